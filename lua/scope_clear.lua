-- scope_clear: remove every key of a scope.
-- KEYS[1] H  KEYS[2] X
-- ARGV: none
-- Reply: number of live keys removed (expired ones are not counted).
-- Cost: O(N), N <= max keys in the scope.
-- Flags: idempotent
local h, x = KEYS[1], KEYS[2]
local now = clock()
local n = redis.call('ZCOUNT', x, '(' .. fmt_int(now), '+inf')
redis.call('DEL', h, x)
return n
