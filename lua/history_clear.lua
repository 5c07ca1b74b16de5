-- history_clear: remove every turn of a thread; it stays listed among the scope's threads
-- (until it expires or is deleted) with this as its last write.
-- KEYS[1] L  KEYS[2] I  KEYS[3] TA  KEYS[4] TX
-- ARGV[1] thread id
-- Reply: number of turns removed. Cost: O(N) for N turns.
-- Flags: idempotent allow-oom
local l, ids, ta = KEYS[1], KEYS[2], KEYS[3]
local now = clock()
local n = redis.call('LLEN', l)
redis.call('DEL', l, ids)
redis.call('ZADD', ta, 'XX', fmt_int(now), ARGV[1])
return n
