-- cache_delete: remove one entry. A computation in flight for it loses its lease (its result
-- may predate whatever made the entry invalid) and its waiters are woken to retry.
-- KEYS[1] V  KEYS[2] L  KEYS[3] N  KEYS[4] W  KEYS[5] I  (as in cache_fetch)
-- ARGV[1] key
-- Reply: 1 when a fresh value was removed, else 0. Cost: O(log M + waiters).
local v, l, n, w, i = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local now = clock()
local expiry = tonumber(redis.call('HGET', v, 'e'))
redis.call('DEL', v, l)
cache_wake(n, w)
redis.call('ZREM', i, ARGV[1])
if expiry and expiry > now then return 1 end
return 0
