-- history_delete: remove a thread: its turns and its place among the scope's threads.
-- KEYS[1] L  KEYS[2] I  KEYS[3] TA  KEYS[4] TX
-- KEYS[5] the scope's change log (only when the call logs events)
-- ARGV[1] thread id
-- ARGV[2..4] with KEYS[5]: the log's cap, retention (ms) and "1" to log values
-- Reply: 1 when the thread held turns or was listed, else 0.
-- Events: "delete" (k: the thread) when the reply is 1.
-- Cost: O(N) for N turns. With events: one XADD and one PEXPIRE.
-- Flags: idempotent allow-oom
local l, ids, ta, tx, log = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local n = redis.call('DEL', l, ids)
local listed = redis.call('ZREM', tx, ARGV[1])
redis.call('ZREM', ta, ARGV[1])
if listed > 0 then shrink_scope(ta, tx) end
if n == 0 and listed == 0 then return 0 end
if log then
  ev_add(log, ARGV, 'o', 'delete', 'w', 't', 'k', ARGV[1])
  ev_done(log, ARGV)
end
return 1
