-- context_delete: remove a key from the first scope, most specific first, that holds it live.
-- KEYS[2i-1], KEYS[2i] H and X of the i-th of S scopes, in precedence order; then, when the
-- call logs events, KEYS[2S+i] the i-th scope's change log
-- ARGV[1] key  ARGV[2..4] with the logs: the log's cap, retention (ms) and "1" to log values
-- Reply: the position (1-based) of the scope the key was removed from, or 0 when no scope
-- held it.
-- Events: those of scope_delete, in the scope written.
-- Cost: O(S) HGETs for S scopes (S <= 8) to find it, then that of scope_delete.
-- Flags: once
local n = #KEYS / 2
if #ARGV > 1 then n = #KEYS / 3 end
local key = ARGV[1]
local now = scope_now()
local mfield = 'm:' .. key
for i = 1, n do
  local h, x, log = KEYS[2 * i - 1], KEYS[2 * i], KEYS[2 * n + i]
  if live_meta(redis.call('HGET', h, mfield), now) then
    if scope_delete_in(h, x, log, key, ARGV) == 1 then return i end
    return 0
  end
end
return 0
