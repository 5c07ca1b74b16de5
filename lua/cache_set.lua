-- cache_set: store a value unconditionally. Any computation in flight for the entry loses its
-- lease (its result would be older than this value) and the waiters are woken.
-- KEYS[1] H (the bucket hash)  KEYS[2] X (the bucket index)  KEYS[3] W (the entry's wake list)
-- KEYS[4] the bucket's change log (only when the call logs events)
-- ARGV[1] key  ARGV[2] type ("m"|"i"|"f"|"s")  ARGV[3] payload  ARGV[4] ttl in ms (> 0)
-- ARGV[5] stale window in ms (>= 0)  ARGV[6] max entries in the bucket
-- ARGV[7] the handle's bucket count
-- ARGV[8..10] with KEYS[4]: the log's cap, retention (ms) and "1" to log values
-- Reply: 1. Errors: PM_CONFIG (the bucket was written with another bucket count).
-- Events: "expire" for each entry dropped (dead, or evicted to make room), then "set" (k;
-- y, p with values).
-- Cost: O(log M + E + waiters) (E dead or evicted entries dropped, E <= M <= cap;
-- waiters <= 1000). With events: XADD per event (H's field "r" read too), and PEXPIREAT and
-- HSET "r" when the log's retention is due (ev_scope_done).
-- Flags: idempotent
local h, x, w, log = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local key = ARGV[1]
local now, now_us = clock()
local r
if log then
  r = redis.call('HMGET', h, 'm:' .. key, 'l:' .. key, 'e', 'b', 'r')
else
  r = redis.call('HMGET', h, 'm:' .. key, 'l:' .. key, 'e', 'b')
end
local err = cache_buckets(r[4], ARGV[7])
if err then return err end
local _, _, old_keep, _, last = cache_meta(r[1])
local ends, holder, waiters = cache_lease(r[2])
local token = cache_fence(now_us, last, holder)
local expiry = now + tonumber(ARGV[4])
local keep = expiry + tonumber(ARGV[5])
local e, _, dead = pair_settle(h, x, r[3], now, CACHE_FIELDS, cache_drop, true, log ~= nil)
local was = nil
if e then was = cache_score(old_keep, ends, now) end
local lowered, evicted = false, nil
if was then
  lowered = was >= e and keep < was
else
  lowered, evicted = cache_room(h, x, e, tonumber(ARGV[6]))
end
redis.call('ZADD', x, fmt_int(keep), key)
local target = pair_target(x, e, keep, lowered)
local meta = cache_make_meta(ARGV[2], expiry, keep, 0, token)
if not e then
  redis.call('HSET', h, 'd:' .. key, ARGV[3], 'm:' .. key, meta, 'e', fmt_int(target),
    'b', ARGV[7])
elseif target ~= e then
  redis.call('HSET', h, 'd:' .. key, ARGV[3], 'm:' .. key, meta, 'e', fmt_int(target))
else
  redis.call('HSET', h, 'd:' .. key, ARGV[3], 'm:' .. key, meta)
end
if r[2] then redis.call('HDEL', h, 'l:' .. key) end
if ends and ends > now then cache_wake(w, waiters) end
pair_expire(h, x, e, target, false)
if log then
  local _, created = ev_expired(log, ARGV, 'c', dead)
  local _, made = ev_expired(log, ARGV, 'c', evicted)
  created = ev_write(log, ARGV, 'set', 'c', key, nil, ARGV[2], ARGV[3]) or created or made
  ev_scope_done(h, log, ARGV, e and r[5], now, created)
end
return 1
