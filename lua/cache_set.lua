-- cache_set: store a value unconditionally. Any computation in flight for the entry loses its
-- lease (its result would be older than this value) and the waiters are woken.
-- KEYS[1] V  KEYS[2] L  KEYS[3] N  KEYS[4] W  KEYS[5] I  (as in cache_fetch)
-- ARGV[1] key  ARGV[2] type ("m"|"i"|"f")  ARGV[3] payload  ARGV[4] ttl in ms (> 0)
-- ARGV[5] stale window in ms (>= 0)  ARGV[6] max entries in the bucket
-- Reply: 1. Cost: O(log M + E + waiters).
local v, l, n, w, i = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local key = ARGV[1]
local now, now_us = clock()
local token = fmt_int(cache_fence(v, now_us))
local expiry = now + tonumber(ARGV[4])
local keep = expiry + tonumber(ARGV[5])
redis.call('DEL', v, l)
redis.call('HSET', v, 't', ARGV[2], 'd', ARGV[3], 'e', fmt_int(expiry), 'c', '0', 'f', token)
redis.call('PEXPIREAT', v, fmt_int(keep))
cache_wake(n, w)
cache_index(i, key, keep, tonumber(ARGV[6]), now, false)
return 1
