-- cache_fill: store a computed value, only if the caller still holds the entry's lease
-- (fencing: a holder whose lease expired or was taken over cannot write), then wake the
-- callers waiting for it.
-- KEYS[1] H (the bucket hash)  KEYS[2] X (the bucket index)  KEYS[3] W (the entry's wake list)
-- KEYS[4] the bucket's change log (only when the call logs events)
-- ARGV[1] key  ARGV[2] the lease's fencing token  ARGV[3] type ("m"|"i"|"f"|"s")
-- ARGV[4] payload  ARGV[5] ttl in ms (> 0)  ARGV[6] stale window in ms (>= 0)
-- ARGV[7] compute time in ms (>= 0)  ARGV[8] the handle's bucket count
-- ARGV[9..11] with KEYS[4]: the log's cap, retention (ms) and "1" to log values
-- Reply: 1 stored, or stored already (this fill sent again: the entry holds this value,
-- stored under this lease's token); 0 rejected (the lease is no longer the caller's:
-- nothing written).
-- Errors: PM_CONFIG (the bucket was written with another bucket count).
-- Events (when stored, not when sent again): "expire" for each dead entry dropped, then
-- "fill" (k; y, p with values).
-- Cost: O(log M + waiters), waiters <= 1000. (The entry holds its place in the bucket since
-- its lease was taken, so nothing is evicted.) With events: XADD per event, and the log's
-- retention as cache_set's.
-- Flags: idempotent
local h, x, w, log = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local key, token = ARGV[1], ARGV[2]
local now = clock()
local r
if log then
  r = redis.call('HMGET', h, 'l:' .. key, 'm:' .. key, 'e', 'b', 'r')
else
  r = redis.call('HMGET', h, 'l:' .. key, 'm:' .. key, 'e', 'b')
end
local err = cache_buckets(r[4], ARGV[8])
if err then return err end
local ends, holder, waiters = cache_lease(r[1])
if not ends or ends <= now or holder ~= token then
  local vtype, _, _, _, stored = cache_meta(r[2])
  if stored and stored == tonumber(token) and vtype == ARGV[3]
    and redis.call('HGET', h, 'd:' .. key) == ARGV[4] then
    return 1  -- this fill, sent again after it stored the value
  end
  return 0
end
local e, _, dead = pair_settle(h, x, r[3], now, CACHE_FIELDS, cache_drop, true, log ~= nil)
if not e then return 0 end  -- the bucket had lost a key (eviction), and its lease with it
local _, _, old_keep = cache_meta(r[2])
local was = cache_score(old_keep, ends, now)
local expiry = now + tonumber(ARGV[5])
local keep = expiry + tonumber(ARGV[6])
redis.call('ZADD', x, fmt_int(keep), key)
local target = pair_target(x, e, keep, was >= e and keep < was)
local meta = cache_make_meta(ARGV[3], expiry, keep, tonumber(ARGV[7]), token)
if target ~= e then
  redis.call('HSET', h, 'd:' .. key, ARGV[4], 'm:' .. key, meta, 'e', fmt_int(target))
else
  redis.call('HSET', h, 'd:' .. key, ARGV[4], 'm:' .. key, meta)
end
redis.call('HDEL', h, 'l:' .. key)
cache_wake(w, waiters)
pair_expire(h, x, e, target, false)
if log then
  local _, created = ev_expired(log, ARGV, 'c', dead)
  created = ev_write(log, ARGV, 'fill', 'c', key, nil, ARGV[3], ARGV[4]) or created
  ev_scope_done(h, log, ARGV, r[5], now, created)
end
return 1
