-- scope_erase: remove keys that the client found by SCAN and checked to be a scope's own
-- (under its hash tag) or its scoped caches' (their buckets' tags), measuring each first.
-- All KEYS map to one slot; they need not exist any more (those gone are skipped).
-- KEYS[i] a key to remove
-- ARGV[i] what to measure of KEYS[i] before it goes: "z" ZCARD (values, threads, cache
--   entries: the members of an index), "l" LLEN (a thread's turns), "s" XLEN (a change
--   log's events), "c" the integer in hash field "c" (fact versions held), "-" nothing
-- Reply: one integer per key: -1 when the key was already gone (nothing removed), else its
--   measure (0 for "-", or when the key is not of the type its code expects).
-- Events: none (the scope's change log is among what goes; logging to it would recreate it).
-- Cost: O(K) for the K keys (the client sends at most 512 per call): each measure is O(1),
--   and UNLINK frees the keys' memory in the background.
-- Flags: idempotent allow-oom
local counts = {}
for i = 1, #KEYS do
  local key = KEYS[i]
  local code = ARGV[i]
  local n = 0
  if code == 'z' then
    n = redis.pcall('ZCARD', key)
  elseif code == 'l' then
    n = redis.pcall('LLEN', key)
  elseif code == 's' then
    n = redis.pcall('XLEN', key)
  elseif code == 'c' then
    n = tonumber(redis.pcall('HGET', key, 'c'))
  end
  if type(n) ~= 'number' then n = 0 end  -- an error reply (WRONGTYPE) or no field
  if redis.call('UNLINK', key) == 0 then n = -1 end
  counts[i] = n
end
return counts
