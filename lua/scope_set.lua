-- scope_set: store one value in a scope.
-- KEYS[1] H  KEYS[2] X
-- ARGV[1] key  ARGV[2] type ("m"|"i"|"f")  ARGV[3] payload
-- ARGV[4] ttl in ms (0: never expires)  ARGV[5] max keys in the scope
-- Reply: the new version (string). Errors: PM_FULL.
-- Cost: O(log N + E) for E expired entries purged (E <= max keys).
local h, x = KEYS[1], KEYS[2]
local key, vtype, payload = ARGV[1], ARGV[2], ARGV[3]
local ttl_ms = tonumber(ARGV[4])
local max_keys = tonumber(ARGV[5])
local now = now_ms()
purge_expired(h, x, now)
local current = live_expiry(x, key, now)
local extra = 1
if current then extra = 0 end
local full = check_capacity(x, extra, max_keys)
if full then return full end
local version = write_entry(h, x, key, vtype, payload, write_expiry(now, ttl_ms, '0', current))
refresh_scope_expiry(h, x)
return version
