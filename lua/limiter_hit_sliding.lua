-- limiter_hit_sliding: log a hit in one exact sliding-window limit if it allows, on the
-- server's clock: never more than the limit in any period.
-- KEYS[1] zset: the log of admitted hits (see rl_sliding)
-- ARGV[1] cost (millionths of a unit, integer text)
-- ARGV[2] limit (millionths of a unit, integer text)
-- ARGV[3] period (us, integer text)
-- ARGV[4] px (ms, integer text): the log's TTL, at least period + 1 ms
-- Reply: allowed: {live sum after the hit, us until the newest entry leaves the window};
--   denied: {live sum, us until the newest entry leaves, us until the hit would be allowed}
-- Cost: O(log N + E) for N <= RL_MAX_LOG entries and E expired entries removed (each entry
-- is removed once); a denial adds O(log^2 N) to find when enough entries will have left.
local cost, period = tonumber(ARGV[1]), tonumber(ARGV[3])
local now = rl_now()
local ok, sum, reset, wait, stop = rl_sliding(KEYS[1], now, cost, tonumber(ARGV[2]), period, true)
if not ok then return {sum, reset, wait} end
if cost == 0 then return {sum, reset} end
rl_log(KEYS[1], now, stop, ARGV[1], ARGV[4])
return {sum + cost, period}
