-- cache_release: give a lease back without a value (the computation failed), and wake the
-- waiters so that one of them can take the lease.
-- KEYS[1] V  KEYS[2] L  KEYS[3] N  KEYS[4] W  KEYS[5] I  (as in cache_fetch)
-- ARGV[1] the lease's fencing token
-- Reply: 1 released; 0 the lease was no longer the caller's. Cost: O(waiters), <= 1000.
local l, n, w = KEYS[2], KEYS[3], KEYS[4]
if redis.call('GET', l) ~= ARGV[1] then return 0 end
redis.call('DEL', l)
cache_wake(n, w)
return 1
