-- cache_release: give a lease back without a value (the computation failed), and wake the
-- waiters so that one of them can take the lease.
-- KEYS[1] H (the bucket hash)  KEYS[2] X (the bucket index)  KEYS[3] W (the entry's wake list)
-- ARGV[1] key  ARGV[2] the lease's fencing token
-- Reply: 1 released; 0 the lease was no longer the caller's. Cost: O(log M + waiters),
-- waiters <= 1000.
-- Flags: idempotent
local h, x, w = KEYS[1], KEYS[2], KEYS[3]
local key, token = ARGV[1], ARGV[2]
local now = clock()
local r = redis.call('HMGET', h, 'l:' .. key, 'm:' .. key)
local ends, holder, waiters = cache_lease(r[1])
if not ends or ends <= now or holder ~= token then return 0 end
local _, _, keep = cache_meta(r[2])
if keep and keep > now then  -- a stale value stays, indexed by its own expiry
  redis.call('HDEL', h, 'l:' .. key)
  redis.call('ZADD', x, fmt_int(keep), key)
else
  redis.call('HDEL', h, 'd:' .. key, 'm:' .. key, 'l:' .. key)
  redis.call('ZREM', x, key)
  shrink_scope(h, x)
end
cache_wake(w, waiters)
return 1
