-- history_touch: re-arm a thread's sliding expiry after a read reported it due (the reads
-- never write): to now + ttl on L and I and in the index, if it is still due. A thread
-- that holds no turns is left alone.
-- KEYS[1] L  KEYS[2] I  KEYS[3] TA  KEYS[4] TX
-- ARGV[1] thread id  ARGV[2] ttl in ms (> 0)
-- Reply: 1 when the expiry was re-armed, else 0. Cost: O(log T) for T threads in the scope.
-- Flags: idempotent
local l, ids, ta, tx = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local tid, ttl_ms = ARGV[1], tonumber(ARGV[2])
local left = redis.call('PTTL', l)
if left == -2 or not must_rearm(left, 0, ttl_ms) then return 0 end
local now = clock()
local was = tonumber(redis.call('ZSCORE', tx, tid))
if was and was <= now then was = nil end
local fresh = not was and redis.call('ZCARD', tx) == 0
touch_thread(l, ids, ta, tx, tid, now, ttl_ms, was, fresh)
if not was and not fresh then shrink_scope(ta, tx) end  -- TX may have been (re)created
return 1
