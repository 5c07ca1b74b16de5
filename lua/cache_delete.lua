-- cache_delete: remove one entry. A computation in flight for it loses its lease (its result
-- may predate whatever made the entry invalid) and its waiters are woken to retry.
-- KEYS[1] H (the bucket hash)  KEYS[2] X (the bucket index)  KEYS[3] W (the entry's wake list)
-- ARGV[1] key
-- Reply: 1 when a fresh value was removed, else 0. Cost: O(log M + waiters), waiters <= 1000.
-- Flags: idempotent
local h, x, w = KEYS[1], KEYS[2], KEYS[3]
local key = ARGV[1]
local now = clock()
local r = redis.call('HMGET', h, 'm:' .. key, 'l:' .. key)
if not r[1] and not r[2] then return 0 end
local _, expiry = cache_meta(r[1])
local ends, _, waiters = cache_lease(r[2])
redis.call('HDEL', h, 'd:' .. key, 'm:' .. key, 'l:' .. key)
redis.call('ZREM', x, key)
shrink_scope(h, x)
if ends and ends > now then cache_wake(w, waiters) end
if expiry and expiry > now then return 1 end
return 0
