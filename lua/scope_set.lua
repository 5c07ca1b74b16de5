-- scope_set: store one value in a scope.
-- KEYS[1] H  KEYS[2] X  KEYS[3] the scope's change log (only when the call logs events)
-- ARGV[1] key  ARGV[2] type ("m"|"i"|"f"|"s")  ARGV[3] payload
-- ARGV[4] ttl in ms (0: never expires)  ARGV[5] max keys in the scope
-- ARGV[6..8] with KEYS[3]: the log's cap, retention (ms) and "1" to log values
-- Reply: the new meta. Errors: PM_FULL.
-- Events: "expire" for each key purged, then "set" (k, v; y, p with values).
-- Cost: O(log N): 4 calls to overwrite a key whose expiry stays (TIME, HMGET, EXISTS, HSET:
-- a ZRANGE instead of the EXISTS once an entry may have expired), up to 8 when the expiry
-- moves the scope's own; plus O(E) for E expired entries purged (E <= cap) and O(N) to
-- repair a scope that lost H or X to eviction. With events: XADD per event (H's field "r"
-- read too), and PEXPIREAT and HSET "r" when the log's retention is due (ev_scope_done).
-- Flags: idempotent
local h, x, log = KEYS[1], KEYS[2], KEYS[3]
local key, vtype, payload = ARGV[1], ARGV[2], ARGV[3]
local ttl_ms = tonumber(ARGV[4])
local now, now_us = clock()
local r
if log then
  r = redis.call('HMGET', h, 'm:' .. key, 'e', 'n', 'r')
else
  r = redis.call('HMGET', h, 'm:' .. key, 'e', 'n')
end
local old = r[1]
local live = live_meta(old, now)
if not live then
  local err = scope_full(x, now, 1, tonumber(ARGV[5]))
  if err then return err end
end
local e, low, dead = scope_settle(h, x, r[2], r[3], now, true, log ~= nil)
local expiry = write_expiry(now, ttl_ms, '0', nil)
local meta, was = scope_meta(vtype, expiry, now_us, old, live)
if was ~= expiry then redis.call('ZADD', x, fmt_int(expiry), key) end
local target = pair_target(x, e, expiry, was and was == e and expiry < was)
scope_hset(h, e, target, r[3], low, expiry, 'd:' .. key, payload, 'm:' .. key, meta)
pair_expire(h, x, e, target, false)
if log then
  local _, created = ev_expired(log, ARGV, 'v', dead)
  created = ev_write(log, ARGV, 'set', 'v', key, string.sub(meta, 18), vtype, payload) or created
  ev_scope_done(h, log, ARGV, r[4], now, created)
end
return meta
