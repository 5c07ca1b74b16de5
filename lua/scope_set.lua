-- scope_set: store one value in a scope.
-- KEYS[1] H  KEYS[2] X
-- ARGV[1] key  ARGV[2] type ("m"|"i"|"f")  ARGV[3] payload
-- ARGV[4] ttl in ms (0: never expires)  ARGV[5] max keys in the scope
-- Reply: the new meta. Errors: PM_FULL.
-- Cost: O(log N), plus O(E) for E expired entries purged when the key is new (E <= cap).
-- Flags: idempotent
local h, x = KEYS[1], KEYS[2]
local key, vtype, payload = ARGV[1], ARGV[2], ARGV[3]
local ttl_ms = tonumber(ARGV[4])
local now, now_us = clock()
local old = redis.call('HGET', h, 'm:' .. key)
local live = live_meta(old, now)
local fresh = false
if not live then
  local err
  fresh, err = make_room(h, x, now, 1, tonumber(ARGV[5]))
  if err then return err end
end
local expiry = write_expiry(now, ttl_ms, '0', nil)
local meta, was = write_entry(h, x, key, vtype, payload, expiry, now_us, old, live)
extend_scope(h, x, expiry, was, fresh)
return meta
