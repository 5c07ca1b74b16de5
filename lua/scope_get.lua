-- scope_get: read one live key of a scope.
-- KEYS[1] H (scope hash)
-- ARGV[1] key (string)
-- Reply: {meta, payload} or nil when absent or expired. Cost: O(1): HMGET, and TIME only
-- for a key with an expiry (read_live). Read only.
-- Flags: no-writes
local key = ARGV[1]
local r = redis.call('HMGET', KEYS[1], 'm:' .. key, 'd:' .. key)
if r[1] and read_live(r[1]) then return r end
return false
