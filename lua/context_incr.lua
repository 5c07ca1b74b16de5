-- context_incr: add to a numeric value in the first scope, most specific first, that holds
-- the key live, or in the first scope when none does (a missing key counts as 0).
-- KEYS[2i-1], KEYS[2i] H and X of the i-th of S scopes, in precedence order; then, when the
-- call logs events, KEYS[2S+i] the i-th scope's change log
-- ARGV[1] key  ARGV[2] amount type ("i"|"f")  ARGV[3] amount (integer or float text)
-- ARGV[4] ttl in ms applied only when the key is created (0: never expires)
-- ARGV[5] max keys in a scope
-- ARGV[6..8] with the logs: the log's cap, retention (ms) and "1" to log values
-- Reply: {i, meta, payload}: the position (1-based) of the scope written, and the new value.
-- Errors: PM_WRONGTYPE, PM_OVERFLOW, PM_FULL (as scope_incr).
-- Events: those of scope_incr, in the scope written.
-- Cost: O(S) HGETs for S scopes (S <= 8) to find it, then that of scope_incr.
-- Flags: once
local n = #KEYS / 2
if #ARGV > 5 then n = #KEYS / 3 end
local key = ARGV[1]
local now = scope_now()
local mfield = 'm:' .. key
local found = 1
for i = 1, n do
  if live_meta(redis.call('HGET', KEYS[2 * i - 1], mfield), now) then
    found = i
    break
  end
end
local h, x, log = KEYS[2 * found - 1], KEYS[2 * found], KEYS[2 * n + found]
local r = scope_incr_in(h, x, log, key, ARGV[2], ARGV[3], tonumber(ARGV[4]), ARGV[5], ARGV)
if r.err then return r end
return {found, r[1], r[2]}
