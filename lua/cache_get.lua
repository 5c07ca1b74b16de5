-- cache_get: the fresh value of a cache entry (never a stale one; takes no lease).
-- KEYS[1] H (the bucket hash)
-- ARGV[1] key  ARGV[2] the handle's bucket count
-- Reply: {meta, payload, ...} (the type is meta's first character), or nil when missing,
-- expired or stale. Errors: PM_CONFIG (the bucket was written with another bucket count).
-- Cost: O(1). Read only.
-- Flags: no-writes
local key = ARGV[1]
local r = redis.call('HMGET', KEYS[1], 'm:' .. key, 'd:' .. key, 'b')
if r[3] and r[3] ~= ARGV[2] then return cache_buckets(r[3], ARGV[2]) end
if r[1] and cache_expiry(r[1]) > scope_now() then return r end
return false
