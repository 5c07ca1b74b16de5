-- scope_cas: store a value only if the key is still at the version the caller read.
-- KEYS[1] H  KEYS[2] X  KEYS[3] the scope's change log (only when the call logs events)
-- ARGV[1] key  ARGV[2] expected version ("0": the key must be absent)
-- ARGV[3] type ("m"|"i"|"f"|"s")  ARGV[4] payload
-- ARGV[5] ttl in ms (0: never expires)  ARGV[6] keep ("1": a live key keeps its expiry)
-- ARGV[7] max keys in the scope
-- ARGV[8..10] with KEYS[3]: the log's cap, retention (ms) and "1" to log values
-- Reply: {1, meta} when stored; {0, meta, payload} with the current entry when the version
-- moved on ({0} when the key is now absent). Errors: PM_FULL.
-- Events (when stored): "expire" for each key purged, then "update" (k, v; y, p).
-- Cost: O(log N), as scope_set; a conflict reads only (and logs nothing). With events: as
-- scope_set.
-- Flags: once
local h, x, log = KEYS[1], KEYS[2], KEYS[3]
local key, expected, vtype, payload = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local now, now_us = clock()
local r
if log then
  r = redis.call('HMGET', h, 'm:' .. key, 'e', 'n', 'r')
else
  r = redis.call('HMGET', h, 'm:' .. key, 'e', 'n')
end
local old = r[1]
local live = live_meta(old, now)
local actual, current = '0', nil
if live then
  local _
  _, current, actual = parse_meta(live)
end
if actual ~= expected then
  if live then return {0, live, redis.call('HGET', h, 'd:' .. key)} end
  return {0}
end
if not live then
  local err = scope_full(x, now, 1, tonumber(ARGV[7]))
  if err then return err end
end
local e, low, dead = scope_settle(h, x, r[2], r[3], now, true, log ~= nil)
local expiry = write_expiry(now, tonumber(ARGV[5]), ARGV[6], current)
local meta, was = scope_meta(vtype, expiry, now_us, old, live)
if was ~= expiry then redis.call('ZADD', x, fmt_int(expiry), key) end
local target = pair_target(x, e, expiry, was and was == e and expiry < was)
scope_hset(h, e, target, r[3], low, expiry, 'd:' .. key, payload, 'm:' .. key, meta)
pair_expire(h, x, e, target, false)
if log then
  local _, created = ev_expired(log, ARGV, 'v', dead)
  created = ev_write(log, ARGV, 'update', 'v', key, string.sub(meta, 18), vtype, payload)
    or created
  ev_scope_done(h, log, ARGV, r[4], now, created)
end
return {1, meta}
