-- scope_cas: store a value only if the key is still at the version the caller read.
-- KEYS[1] H  KEYS[2] X
-- ARGV[1] key  ARGV[2] expected version ("0": the key must be absent)
-- ARGV[3] type ("m"|"i"|"f")  ARGV[4] payload
-- ARGV[5] ttl in ms (0: never expires)  ARGV[6] keep ("1": a live key keeps its expiry)
-- ARGV[7] max keys in the scope
-- Reply: {1, version} when stored; {0, meta, payload} with the current entry when the
-- version moved on ({0} when the key is now absent). Errors: PM_FULL.
-- Cost: O(log N + E).
local h, x = KEYS[1], KEYS[2]
local key, expected, vtype, payload = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local ttl_ms = tonumber(ARGV[5])
local keep = ARGV[6]
local max_keys = tonumber(ARGV[7])
local now = now_ms()
purge_expired(h, x, now)
local current = live_expiry(x, key, now)
local meta = nil
if current then meta = redis.call('HGET', h, 'm:' .. key) end
local actual = '0'
if meta then actual = string.sub(meta, 2) end
if actual ~= expected then
  if meta then return {0, meta, redis.call('HGET', h, 'd:' .. key)} end
  return {0}
end
if not current then
  local full = check_capacity(x, 1, max_keys)
  if full then return full end
end
local version = write_entry(h, x, key, vtype, payload, write_expiry(now, ttl_ms, keep, current))
refresh_scope_expiry(h, x)
return {1, version}
