-- limiter_hit_gcra: spend from one gcra (token bucket) limit if it allows, on the server's clock.
-- KEYS[1] string: the subject's theoretical arrival time (TAT, us; see rl_gcra)
-- ARGV[1] inc (us, integer text): the cost times the emission interval, rounded up
-- ARGV[2] tau1 (us, integer text): the most the TAT may lead now after a hit (burst + 1 us)
-- ARGV[3] px (ms, integer text): the key's TTL, at least tau1 + 1 ms
-- Reply: allowed: the TAT's lead over now after the hit (us, integer);
--   denied: {lead (us), lead (us), us until the hit would be allowed}
-- Cost: O(1): TIME and one SET for a subject whose TAT is past (the idle case, where the new
-- TAT is written and the old one read at once), a second SET for a busy one (its TAT
-- corrected, or restored when denied).
-- The rule of rl_gcra (which limiter_hit_many calls), written out.
-- ARGV and the TAT are numbers by Lua's arithmetic on their text (cheaper than tonumber).
-- Flags: once
local t = redis.call('TIME')
local now = t[1] * 1000000 + t[2]
local old = redis.call('SET', KEYS[1], string.format('%d', now + ARGV[1]), 'PX', ARGV[3], 'GET')
if not old or old + 0 <= now then return ARGV[1] + 0 end  -- idle: allowed, as written
local tat, inc = old + 0, ARGV[1] + 0
local lead = tat - now + inc
if lead <= ARGV[2] + 0 then
  redis.call('SET', KEYS[1], string.format('%d', tat + inc), 'PX', ARGV[3])
  return lead
end
redis.call('SET', KEYS[1], old, 'PX', ARGV[3])  -- denied: as it was
return {tat - now, tat - now, lead - ARGV[2]}
