-- scope_keys: list the live keys of a scope.
-- KEYS[1] H  KEYS[2] X
-- ARGV: none
-- Reply: array of keys, soonest-expiring first (in H's order when X was lost). Keys whose
-- H was lost to eviction are not listed: their values read as absent too.
-- Cost: O(log N + N): 3 calls; O(N) over H when X was lost (until a write rebuilds it).
-- Read only.
-- Flags: no-writes
local h, x = KEYS[1], KEYS[2]
local now = clock()
local live = redis.call('ZRANGEBYSCORE', x, '(' .. fmt_int(now), '+inf')
if redis.call('EXISTS', h) == 0 then return {} end
if #live > 0 then return live end
local keys, expiries = scope_scan(h)
for i = 1, #keys do
  if expiries[i] > now then live[#live + 1] = keys[i] end
end
return live
