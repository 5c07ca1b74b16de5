-- scope_keys: list the live keys of a scope.
-- KEYS[1] H  KEYS[2] X
-- ARGV: none
-- Reply: array of keys, soonest-expiring first. Cost: O(log N + N). Read only.
-- Flags: no-writes
local now = clock()
return redis.call('ZRANGEBYSCORE', KEYS[2], '(' .. fmt_int(now), '+inf')
