-- cache_delete: remove one entry. A computation in flight for it loses its lease (its result
-- may predate whatever made the entry invalid) and its waiters are woken to retry.
-- KEYS[1] H (the bucket hash)  KEYS[2] X (the bucket index)  KEYS[3] W (the entry's wake list)
-- ARGV[1] key  ARGV[2] the handle's bucket count
-- Reply: 1 when a fresh value was removed, else 0. Errors: PM_CONFIG.
-- Cost: O(log M + E + waiters), waiters <= 1000 (E dead entries dropped).
-- Flags: idempotent allow-oom
local h, x, w = KEYS[1], KEYS[2], KEYS[3]
local key = ARGV[1]
local now = clock()
local r = redis.call('HMGET', h, 'm:' .. key, 'l:' .. key, 'e', 'b')
local err = cache_buckets(r[4], ARGV[2])
if err then return err end
local _, expiry, keep = cache_meta(r[1])
local ends, _, waiters = cache_lease(r[2])
local e = pair_settle(h, x, r[3], now, CACHE_FIELDS, cache_drop)
if ends and ends > now then cache_wake(w, waiters) end
local was = nil
if e then was = cache_score(keep, ends, now) end
if not was then return 0 end  -- absent, dead (dropped above) or lost with its bucket
redis.call('HDEL', h, 'd:' .. key, 'm:' .. key, 'l:' .. key)
redis.call('ZREM', x, key)
pair_expire(h, x, e, pair_target(x, e, nil, was >= e), true)
if expiry and expiry > now then return 1 end
return 0
