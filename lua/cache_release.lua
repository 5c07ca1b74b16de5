-- cache_release: give a lease back without a value (the computation failed), and wake the
-- waiters so that one of them can take the lease.
-- KEYS[1] H (the bucket hash)  KEYS[2] X (the bucket index)  KEYS[3] W (the entry's wake list)
-- KEYS[4] the bucket's change log (only when the call logs events)
-- ARGV[1] key  ARGV[2] the lease's fencing token  ARGV[3] the handle's bucket count
-- ARGV[4..6] with KEYS[4]: the log's cap, retention (ms) and "1" to log values
-- Reply: 1 released; 0 the lease was no longer the caller's. Errors: PM_CONFIG.
-- Events (when released): "expire" for each dead entry dropped, and for this entry when it
-- goes with a value that had expired meanwhile (its lease kept it).
-- Cost: O(log M + waiters), waiters <= 1000. With events: XADD per event, one PEXPIRE
-- when any.
-- Flags: idempotent allow-oom
local h, x, w, log = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local key, token = ARGV[1], ARGV[2]
local now = clock()
local r = redis.call('HMGET', h, 'l:' .. key, 'm:' .. key, 'e', 'b')
local err = cache_buckets(r[4], ARGV[3])
if err then return err end
local ends, holder, waiters = cache_lease(r[1])
if not ends or ends <= now or holder ~= token then return 0 end
local e, _, dead = pair_settle(h, x, r[3], now, CACHE_FIELDS, cache_drop, nil, log ~= nil)
if not e then return 0 end  -- the bucket had lost a key (eviction), and the lease with it
local _, _, keep = cache_meta(r[2])
local was = cache_score(keep, ends, now)
if keep and keep > now then  -- a stale value stays, indexed by its own expiry
  redis.call('HDEL', h, 'l:' .. key)
  redis.call('ZADD', x, fmt_int(keep), key)
  pair_expire(h, x, e, pair_target(x, e, keep, was >= e and keep < was), true)
else
  redis.call('HDEL', h, 'd:' .. key, 'm:' .. key, 'l:' .. key)
  redis.call('ZREM', x, key)
  pair_expire(h, x, e, pair_target(x, e, nil, was >= e), true)
end
cache_wake(w, waiters)
if log then
  local n = ev_expired(log, ARGV, 'c', dead)
  if r[2] and not (keep and keep > now) then  -- a value, dead, went with the lease
    ev_expired(log, ARGV, 'c', {key})
    n = n + 1
  end
  if n > 0 then ev_done(log, ARGV) end
end
return 1
