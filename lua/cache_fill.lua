-- cache_fill: store a computed value, only if the caller still holds the entry's lease
-- (fencing: a holder whose lease expired or was taken over cannot write), then wake the
-- callers waiting for it.
-- KEYS[1] V  KEYS[2] L  KEYS[3] N  KEYS[4] W  KEYS[5] I  (as in cache_fetch)
-- ARGV[1] key  ARGV[2] the lease's fencing token  ARGV[3] type ("m"|"i"|"f")
-- ARGV[4] payload  ARGV[5] ttl in ms (> 0)  ARGV[6] stale window in ms (>= 0)
-- ARGV[7] compute time in ms (>= 0)  ARGV[8] max entries in the bucket
-- Reply: 1 stored; 0 rejected (the lease is no longer the caller's: nothing written).
-- Cost: O(log M + E + waiters), waiters <= 1000.
local v, l, n, w, i = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local key, token = ARGV[1], ARGV[2]
local now = clock()
if redis.call('GET', l) ~= token then return 0 end
local expiry = now + tonumber(ARGV[5])
local keep = expiry + tonumber(ARGV[6])
redis.call('DEL', v)
redis.call('HSET', v, 't', ARGV[3], 'd', ARGV[4], 'e', fmt_int(expiry), 'c', ARGV[7], 'f', token)
redis.call('PEXPIREAT', v, fmt_int(keep))
redis.call('DEL', l)
cache_wake(n, w)
cache_index(i, key, keep, tonumber(ARGV[8]), now, false)
return 1
