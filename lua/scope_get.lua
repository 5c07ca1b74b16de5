-- scope_get: read one live key of a scope.
-- KEYS[1] H (scope hash)  KEYS[2] X (scope expiry zset)
-- ARGV[1] key (string)
-- Reply: {meta, payload} or nil when absent or expired. Cost: O(1). Read only.
-- Flags: no-writes
local h = KEYS[1]
local key = ARGV[1]
local now = clock()
local r = redis.call('HMGET', h, 'm:' .. key, 'd:' .. key)
if not live_meta(r[1], now) then return false end
return r
