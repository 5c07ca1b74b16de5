-- history_delete: remove a thread: its turns and its place among the scope's threads.
-- KEYS[1] L  KEYS[2] I  KEYS[3] TA  KEYS[4] TX
-- ARGV[1] thread id
-- Reply: 1 when the thread held turns or was listed, else 0. Cost: O(N) for N turns.
-- Flags: idempotent allow-oom
local l, ids, ta, tx = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local n = redis.call('DEL', l, ids)
local listed = redis.call('ZREM', tx, ARGV[1])
redis.call('ZREM', ta, ARGV[1])
if listed > 0 then shrink_scope(ta, tx) end
if n > 0 or listed > 0 then return 1 end
return 0
