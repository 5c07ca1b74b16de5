-- cache_set: store a value unconditionally. Any computation in flight for the entry loses its
-- lease (its result would be older than this value) and the waiters are woken.
-- KEYS[1] H (the bucket hash)  KEYS[2] X (the bucket index)  KEYS[3] W (the entry's wake list)
-- ARGV[1] key  ARGV[2] type ("m"|"i"|"f")  ARGV[3] payload  ARGV[4] ttl in ms (> 0)
-- ARGV[5] stale window in ms (>= 0)  ARGV[6] max entries in the bucket
-- Reply: 1. Cost: O(log M + E + waiters) (E dead or evicted entries dropped when the entry
-- is new, E <= M <= cap; waiters <= 1000).
-- Flags: idempotent
local h, x, w = KEYS[1], KEYS[2], KEYS[3]
local key = ARGV[1]
local now, now_us = clock()
local r = redis.call('HMGET', h, 'm:' .. key, 'l:' .. key)
local _, _, _, _, last = cache_meta(r[1])
local ends, holder, waiters = cache_lease(r[2])
local token = cache_fence(now_us, last, holder)
local expiry = now + tonumber(ARGV[4])
local keep = expiry + tonumber(ARGV[5])
local was, fresh = cache_admit(h, x, key, now, tonumber(ARGV[6]))
redis.call('HSET', h, 'd:' .. key, ARGV[3], 'm:' .. key,
  cache_make_meta(ARGV[2], expiry, keep, 0, token))
redis.call('HDEL', h, 'l:' .. key)
if ends and ends > now then cache_wake(w, waiters) end
cache_index(h, x, key, keep, was, fresh, false)
return 1
