-- cache_get: the fresh value of a cache entry (never a stale one; takes no lease).
-- KEYS[1] V (value hash)
-- ARGV: none
-- Reply: {type, payload}, or nil when missing, expired or stale. Cost: O(1). Read only.
local now = clock()
local r = redis.call('HMGET', KEYS[1], 't', 'd', 'e')
if not r[1] or tonumber(r[3]) <= now then return false end
return {r[1], r[2]}
