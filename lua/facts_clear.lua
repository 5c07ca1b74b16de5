-- facts_clear: remove every fact of a scope, history and all.
-- KEYS[1] F  KEYS[2] I  KEYS[3] the scope's change log (only when the call logs events)
-- ARGV: none; with KEYS[3], ARGV[1..3]: the log's cap, retention (ms) and "1" to log values
-- Reply: the number of versions removed.
-- Events: one "clear" (w "f") when any were.
-- Cost: O(N) for the N versions held (DEL), N <= the scope's cap. With events: one XADD and
-- one PEXPIRE.
-- Flags: idempotent allow-oom
local f, i, log = KEYS[1], KEYS[2], KEYS[3]
local n = tonumber(redis.call('HGET', f, 'c')) or 0
redis.call('DEL', f, i)
if log and n > 0 then
  ev_add(log, ARGV, 'o', 'clear', 'w', 'f')
  ev_done(log, ARGV)
end
return n
