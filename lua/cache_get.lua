-- cache_get: the fresh value of a cache entry (never a stale one; takes no lease).
-- KEYS[1] H (the bucket hash)
-- ARGV[1] key  ARGV[2] the handle's bucket count
-- Reply: {type, payload}, or nil when missing, expired or stale. Errors: PM_CONFIG (the
-- bucket was written with another bucket count). Cost: O(1). Read only.
-- Flags: no-writes
local key = ARGV[1]
local now = clock()
local r = redis.call('HMGET', KEYS[1], 'm:' .. key, 'd:' .. key, 'b')
local err = cache_buckets(r[3], ARGV[2])
if err then return err end
local vtype, expiry = cache_meta(r[1])
if not vtype or expiry <= now then return false end
return {vtype, r[2]}
