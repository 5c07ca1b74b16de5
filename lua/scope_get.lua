-- scope_get: read one live key of a scope.
-- KEYS[1] H (scope hash)  KEYS[2] X (scope expiry zset)
-- ARGV[1] key (string)
-- Reply: {meta, payload} (meta = "<type><version>") or nil when absent or expired.
-- Cost: O(log N) for N keys in the scope. Read only.
local h, x = KEYS[1], KEYS[2]
local key = ARGV[1]
if not live_expiry(x, key, now_ms()) then return false end
local r = redis.call('HMGET', h, 'm:' .. key, 'd:' .. key)
if not r[1] or not r[2] then return false end
return {r[1], r[2]}
