-- scope_get: read one live key of a scope.
-- KEYS[1] H (scope hash)
-- ARGV[1] key (string)
-- Reply: {meta, payload} or nil when absent or expired. Cost: O(1). Read only.
-- Flags: no-writes
local key = ARGV[1]
local r = redis.call('HMGET', KEYS[1], 'm:' .. key, 'd:' .. key)
if r[1] and live_meta(r[1], scope_now()) then return r end  -- (an absent key needs no clock)
return false
