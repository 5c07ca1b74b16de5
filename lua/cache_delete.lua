-- cache_delete: remove one entry. A computation in flight for it loses its lease (its result
-- may predate whatever made the entry invalid) and its waiters are woken to retry.
-- KEYS[1] H (the bucket hash)  KEYS[2] X (the bucket index)  KEYS[3] W (the entry's wake list)
-- KEYS[4] the bucket's change log (only when the call logs events)
-- ARGV[1] key  ARGV[2] the handle's bucket count
-- ARGV[3..5] with KEYS[4]: the log's cap, retention (ms) and "1" to log values
-- Reply: 1 when a fresh value was removed, else 0. Errors: PM_CONFIG.
-- Events: "expire" for each dead entry dropped, then "invalidate" (k) when the entry held a
-- value (fresh or stale).
-- Cost: O(log M + E + waiters), waiters <= 1000 (E dead entries dropped). With events: XADD
-- per event, one PEXPIRE when any.
-- Flags: idempotent allow-oom
local h, x, w, log = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local key = ARGV[1]
local now = clock()
local r = redis.call('HMGET', h, 'm:' .. key, 'l:' .. key, 'e', 'b')
local err = cache_buckets(r[4], ARGV[2])
if err then return err end
local _, expiry, keep = cache_meta(r[1])
local ends, _, waiters = cache_lease(r[2])
local e, _, dead = pair_settle(h, x, r[3], now, CACHE_FIELDS, cache_drop, nil, log ~= nil)
if ends and ends > now then cache_wake(w, waiters) end
local was = nil
if e then was = cache_score(keep, ends, now) end
if was then  -- else absent, dead (dropped above) or lost with its bucket
  redis.call('HDEL', h, 'd:' .. key, 'm:' .. key, 'l:' .. key)
  redis.call('ZREM', x, key)
  pair_expire(h, x, e, pair_target(x, e, nil, was >= e), true)
end
if log then
  local n = ev_expired(log, ARGV, 'c', dead)
  if was and keep and keep > now then
    ev_write(log, ARGV, 'invalidate', 'c', key)
    n = n + 1
  end
  if n > 0 then ev_done(log, ARGV) end
end
if was and expiry and expiry > now then return 1 end
return 0
