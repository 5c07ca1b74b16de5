-- scope_clear: remove every key of a scope.
-- KEYS[1] H  KEYS[2] X
-- ARGV: none
-- Reply: number of live keys removed (expired ones, and ones whose H was lost to eviction,
-- are not counted).
-- Cost: O(N), N <= max keys in the scope.
-- Flags: idempotent allow-oom
local h, x = KEYS[1], KEYS[2]
local now = clock()
local n = redis.call('ZCOUNT', x, '(' .. fmt_int(now), '+inf')
if redis.call('EXISTS', h) == 0 then
  n = 0
elseif n == 0 then  -- X was lost: count from H
  local _, expiries = scope_scan(h)
  for i = 1, #expiries do
    if expiries[i] > now then n = n + 1 end
  end
end
redis.call('DEL', h, x)
return n
