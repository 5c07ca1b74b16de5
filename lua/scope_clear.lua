-- scope_clear: remove every key of a scope.
-- KEYS[1] H  KEYS[2] X  KEYS[3] the scope's change log (only when the call logs events)
-- ARGV: none; with KEYS[3], ARGV[1..3]: the log's cap, retention (ms) and "1" to log values
-- Reply: number of live keys removed (expired ones, and ones whose H was lost to eviction,
-- are not counted).
-- Events: one "clear" of the whole scope (w "s") when live keys were removed.
-- Cost: O(N), N <= max keys in the scope. With events: one XADD and one PEXPIRE.
-- Flags: idempotent allow-oom
local h, x, log = KEYS[1], KEYS[2], KEYS[3]
local now = clock()
local n = redis.call('ZCOUNT', x, '(' .. fmt_int(now), '+inf')
if redis.call('EXISTS', h) == 0 then
  n = 0
elseif n == 0 then  -- X was lost: count from H
  local _, expiries = scope_scan(h)
  for i = 1, #expiries do
    if expiries[i] > now then n = n + 1 end
  end
end
redis.call('DEL', h, x)
if log and n > 0 then
  ev_add(log, ARGV, 'o', 'clear', 'w', 's')
  ev_done(log, ARGV)
end
return n
