-- limiter_hit_fixed: spend from one fixed-window limit if it allows, on the server's clock.
-- KEYS[1] string: "<window index>:<used>" (see rl_fixed)
-- ARGV[1] cost (millionths of a unit, integer text)
-- ARGV[2] limit (millionths of a unit, integer text)
-- ARGV[3] period (us, integer text): windows are aligned to the epoch
-- ARGV[4] px (ms, integer text): the key's TTL, at least period + 1 ms
-- Reply: allowed: {used after the hit, us until the window ends};
--   denied: {used, us until the window ends, the same again (the wait)}
-- Cost: O(1), three commands (TIME, GET, SET).
local cost = tonumber(ARGV[1])
local ok, used, reset, head = rl_fixed(KEYS[1], rl_now(), cost, tonumber(ARGV[2]), tonumber(ARGV[3]))
if not ok then return {used, reset, reset} end
if cost > 0 then redis.call('SET', KEYS[1], head .. fmt_int(used + cost), 'PX', ARGV[4]) end
return {used + cost, reset}
