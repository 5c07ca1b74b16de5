-- cache_fill: store a computed value, only if the caller still holds the entry's lease
-- (fencing: a holder whose lease expired or was taken over cannot write), then wake the
-- callers waiting for it.
-- KEYS[1] H (the bucket hash)  KEYS[2] X (the bucket index)  KEYS[3] W (the entry's wake list)
-- ARGV[1] key  ARGV[2] the lease's fencing token  ARGV[3] type ("m"|"i"|"f")
-- ARGV[4] payload  ARGV[5] ttl in ms (> 0)  ARGV[6] stale window in ms (>= 0)
-- ARGV[7] compute time in ms (>= 0)
-- Reply: 1 stored; 0 rejected (the lease is no longer the caller's: nothing written).
-- Cost: O(log M + waiters), waiters <= 1000. (The entry holds its place in the bucket since
-- its lease was taken, so nothing is dropped or evicted.)
-- Flags: idempotent
local h, x, w = KEYS[1], KEYS[2], KEYS[3]
local key, token = ARGV[1], ARGV[2]
local now = clock()
local ends, holder, waiters = cache_lease(redis.call('HGET', h, 'l:' .. key))
if not ends or ends <= now or holder ~= token then return 0 end
local expiry = now + tonumber(ARGV[5])
local keep = expiry + tonumber(ARGV[6])
local meta = cache_make_meta(ARGV[3], expiry, keep, tonumber(ARGV[7]), token)
redis.call('HSET', h, 'd:' .. key, ARGV[4], 'm:' .. key, meta)
redis.call('HDEL', h, 'l:' .. key)
cache_wake(w, waiters)
cache_index(h, x, key, keep, nil, false, false)
return 1
