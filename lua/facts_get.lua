-- facts_get: the objects of (subject, predicate) valid at world time `as_of`, as believed
-- at recording time `known_at`, from the first scope (most specific first) where any is.
-- KEYS[2j - 1] F  KEYS[2j] I of the j-th scope, in precedence order (see the facts layout)
-- ARGV[1] subject  ARGV[2] predicate  ARGV[3] as_of (world us + 2^52; "": now)
-- ARGV[4] known_at (us; "": now)
-- Reply: {j, cardinality ("1" | "n"), object, ...}: each object its type char, then payload,
-- earliest start first; nil when no scope holds one.
-- Cost: per scope looked at, O(log N) for a single-valued pair believed now (a lex lookup,
-- then an HMGET of what it returns), O(log N + S) for a many-valued one (S: its believed
-- versions starting by as_of); known_at before the pair's last change reads the pair's
-- versions instead, O(log N + V) (V <= the cap per subject and predicate). Read only.
-- Flags: no-writes
local s, p = ARGV[1], ARGV[2]
local a, k = fact_when(ARGV[3], ARGV[4])
for j = 1, #KEYS, 2 do
  local f, i = KEYS[j], KEYS[j + 1]
  local found, card = fact_valid(f, i, s, p, a, k)
  if #found == 1 then  -- one object (a single-valued pair): no list to build
    local object = redis.call('HGET', f, 'd:' .. found[1].did)
    if object then return {(j + 1) / 2, card, object} end
  elseif #found > 1 then
    local reply = {(j + 1) / 2, card}
    local objects = fact_objects(f, found)
    for n = 1, #objects do
      if objects[n] then reply[#reply + 1] = objects[n] end
    end
    if #reply > 2 then return reply end
  end
end
return false
