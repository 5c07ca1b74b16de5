-- limiter_hit_gcra: spend from one gcra (token bucket) limit if it allows, on the server's clock.
-- KEYS[1] string: the subject's theoretical arrival time (TAT, us; see rl_gcra)
-- ARGV[1] inc (us, integer text): the cost times the emission interval, rounded up
-- ARGV[2] tau1 (us, integer text): the most the TAT may lead now after a hit (burst + 1 us)
-- ARGV[3] px (ms, integer text): the key's TTL, at least tau1 + 1 ms
-- Reply: allowed: the TAT's lead over now after the hit (us, integer);
--   denied: {lead (us), lead (us), us until the hit would be allowed}
-- Cost: O(1), three commands (TIME, GET, SET).
local inc = tonumber(ARGV[1])
local now = rl_now()
local ok, before, after = rl_gcra(KEYS[1], now, inc, tonumber(ARGV[2]))
if not ok then return {before, before, after - tonumber(ARGV[2])} end
if inc > 0 then redis.call('SET', KEYS[1], fmt_int(now + after), 'PX', ARGV[3]) end
return after
