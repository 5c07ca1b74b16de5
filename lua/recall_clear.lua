-- recall_clear: remove a scope's recall index whole.
-- KEYS[1] R  KEYS[2] X  KEYS[3] C  KEYS[4] T  (see the recall layout in recall_add.lua)
-- KEYS[5] the scope's change log (only when the call logs events)
-- ARGV: none; with KEYS[5], ARGV[1..3]: the log's cap, retention (ms) and "1" to log values
-- Reply: the number of live items there were.
-- Events: one "clear" (w "r", no k) when there were live items.
-- Cost: O(N) for the N items held (DEL). With events: one XADD and one PEXPIRE.
-- Flags: idempotent allow-oom
local log = KEYS[5]
local t = redis.call('TIME')
local now = string.format('%d', t[1] * 1000 + math.floor(t[2] / 1000))
local n = redis.call('ZCOUNT', KEYS[2], '(' .. now, '+inf')
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3], KEYS[4])
if log and n > 0 then
  ev_add(log, ARGV, 'o', 'clear', 'w', 'r')
  ev_done(log, ARGV)
end
return n
