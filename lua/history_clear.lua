-- history_clear: remove every turn of a thread; it stays listed among the scope's threads
-- (until it expires or is deleted) with this as its last write.
-- KEYS[1] L  KEYS[2] I  KEYS[3] TA  KEYS[4] TX
-- KEYS[5] the scope's change log (only when the call logs events)
-- ARGV[1] thread id
-- ARGV[2..4] with KEYS[5]: the log's cap, retention (ms) and "1" to log values
-- Reply: number of turns removed.
-- Events: "clear" (k: the thread) when turns were removed.
-- Cost: O(N) for N turns. With events: one XADD and one PEXPIRE.
-- Flags: idempotent allow-oom
local l, ids, ta, log = KEYS[1], KEYS[2], KEYS[3], KEYS[5]
local now = clock()
local n = redis.call('LLEN', l)
redis.call('DEL', l, ids)
redis.call('ZADD', ta, 'XX', fmt_int(now), ARGV[1])
if log and n > 0 then
  ev_add(log, ARGV, 'o', 'clear', 'w', 't', 'k', ARGV[1])
  ev_done(log, ARGV)
end
return n
