-- scope_keys: list the live keys of a scope.
-- KEYS[1] H  KEYS[2] X
-- ARGV: none
-- Reply: array of keys, soonest-expiring first. Cost: O(log N + N). Read only.
local x = KEYS[2]
return redis.call('ZRANGEBYSCORE', x, '(' .. fmt_int(now_ms()), '+inf')
