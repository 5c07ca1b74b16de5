-- reencrypt_turns: rewrite a thread's turn entries with what the client sealed under the
-- primary key (the header kept, the body sealed again, or sealed for the first time), each
-- only if the list still holds the entry the client read (a compare-and-set). Appends go
-- to the tail, but trims and compaction move entries to lower indexes: an entry is looked
-- for where it was read, then up to ARGV[1] places lower (gone: left alone, and the client
-- reads again). Adds the entries' change in length to the thread's byte total (I's "").
-- KEYS[1] L (the thread's turns)  KEYS[2] I (its ids and totals)
-- ARGV[1] how many places an entry may have moved down since the read
-- ARGV[2..] triples, by increasing index: the index in L where the entry was read (from 0),
--   the entry read, the new entry
-- Reply: one integer per triple: 1 rewritten, 0 not (the entry is no longer there)
-- Events: none (the turns are the same).
-- Cost: O(S + T * B) for T triples spanning S entries and B = ARGV[1] (the client sends at
--   most 256 entries per call, 4 MiB in all, and B = 64): one LRANGE, one LSET each; an
--   entry not where it was read costs up to B string comparisons, each O(1) in Lua.
-- Flags: idempotent
local l, ids = KEYS[1], KEYS[2]
local back = tonumber(ARGV[1])
local first, last = tonumber(ARGV[2]), tonumber(ARGV[#ARGV - 2])
local low = math.max(first - back, 0)
local held = redis.call('LRANGE', l, low, last)
local out, delta, shift = {}, 0, 0
for i = 2, #ARGV, 3 do
  local at, old, new = tonumber(ARGV[i]), ARGV[i + 1], ARGV[i + 2]
  local floor = math.max(at - back, low)
  local j = at - shift
  while j >= floor and held[j - low + 1] ~= old do
    j = j - 1
  end
  local won = 0
  if j >= floor then
    redis.call('LSET', l, j, new)
    held[j - low + 1] = new
    shift = at - j
    delta = delta + #new - #old
    won = 1
  end
  out[#out + 1] = won
end
if delta ~= 0 then
  local tokens, bytes = thread_parse_totals(redis.call('HGET', ids, ''))
  if tokens then redis.call('HSET', ids, '', thread_fmt_totals(tokens, bytes + delta)) end
end
return out
