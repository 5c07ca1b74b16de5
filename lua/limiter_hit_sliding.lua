-- limiter_hit_sliding: log a hit in one exact sliding-window limit if it allows, on the
-- server's clock: never more than the limit in any period.
-- KEYS[1] list: the log of admitted hits (see rl_entry)
-- ARGV[1] cost (millionths of a unit, integer text)
-- ARGV[2] limit (millionths of a unit, integer text)
-- ARGV[3] period (us, integer text)
-- ARGV[4] px (ms, integer text): the log's TTL, at least period + 1 ms
-- Reply: allowed: the live sum after the hit (an integer; the newest entry, this one, leaves
--   the window in a period), or {live sum, us until the newest entry leaves} for a cost of 0;
--   denied: {live sum, us until the newest entry leaves, us until the hit would be allowed}
-- Cost: TIME, LINDEX at both ends, RPUSH and PEXPIRE, all O(1); the entries that left the
-- window are read and then dropped after the RPUSH (O(E) for E of them, each dropped once;
-- a call that logs nothing pushes one more to drop with them, see rl_sliding_drop). A
-- denial adds LLEN and O(log N) LINDEX calls (N <= RL_MAX_LOG live entries) to find when
-- enough will have left.
-- Flags: once
local t = redis.call('TIME')
local now = t[1] * 1000000 + t[2]
local log, cost, period = KEYS[1], ARGV[1] + 0, ARGV[3] + 0
local sum, gone, first, t0, c0, time, total, reset = 0, 0, nil, 0, 0, 0, 0, 0
local oldest = redis.call('LINDEX', log, 0)
if oldest then
  local s0, s1, s2 = string.match(oldest, '^(%d+):(%d+):(%d+)$')
  time = s0 + 0
  if time > now - period then  -- nothing has left the window: rl_sliding_live, written out
    c0, total = s2 + 0, s1 + 0
    t0 = total - c0
    local last = time
    local newest = redis.call('LINDEX', log, -1)
    if newest ~= oldest then
      local sn, tn = string.match(newest, '^(%d+):(%d+):')
      last, total = sn + 0, tn + 0
    end
    sum, reset = (total - t0) % RL_WRAP, last + period - now
  else
    sum, gone, first, t0, c0, time, total, reset = rl_sliding_live(log, now, period)
    if not sum then sum, total, reset = 0, 0, 0 end
  end
end
local over = sum + cost - ARGV[2]
if over > 0 then  -- denied
  local n = redis.call('LLEN', log) - gone
  local wait = rl_sliding_wait(log, gone, n, t0, c0, over, now, period)
  if gone > 0 then rl_sliding_drop(log, gone, first) end
  return {sum, reset, wait}
end
if cost == 0 then
  if gone > 0 then rl_sliding_drop(log, gone, first) end
  return {sum, reset}
end
-- the cap on the log's length is checked after the fact: RPUSH counts for free
if rl_log(log, now, total, ARGV[1], ARGV[4], gone) > RL_MAX_LOG then
  redis.call('RPOP', log)
  return {sum, reset, time + period - now}  -- until the oldest entry leaves
end
return sum + cost
