-- limiter_hit_sliding: log a hit in one exact sliding-window limit if it allows, on the
-- server's clock: never more than the limit in any period.
-- KEYS[1] zset: the log of admitted hits and its counters (see rl_sliding)
-- ARGV[1] cost (millionths of a unit, integer text)
-- ARGV[2] limit (millionths of a unit, integer text)
-- ARGV[3] period (us, integer text)
-- ARGV[4] px (ms, integer text): the log's TTL, at least period + 1 ms
-- Reply: allowed: {live sum after the hit, us until the newest entry leaves the window};
--   denied: {live sum, us until the newest entry leaves, us until the hit would be allowed}
-- Cost: TIME, one ZRANGE (O(log N), N <= RL_MAX_LOG live entries), ZADD and PEXPIRE; when
-- entries have left the window, ZREMRANGEBYSCORE and ZRANGE more (O(log N + E) for the E
-- removed, each removed once). A denial adds O(log^2 N) to find when enough will have left.
local cost, period = tonumber(ARGV[1]), tonumber(ARGV[3])
local t = redis.call('TIME')
local now = t[1] * 1000000 + t[2]
local ok, sum, wait, total, count =
  rl_sliding(KEYS[1], now, cost, tonumber(ARGV[2]), period, true)
if not ok then return {sum, rl_sliding_reset(KEYS[1], now, period), wait} end
if cost == 0 then return {sum, rl_sliding_reset(KEYS[1], now, period)} end
rl_log(KEYS[1], now, total, count, ARGV[1], ARGV[4])
return {sum + cost, period}
