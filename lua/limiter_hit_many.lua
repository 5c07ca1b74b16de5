-- limiter_hit_many: check N rate limits at once on the server's clock, and spend the cost
-- from every one of them only if all allow (all or nothing). Mode "0" peeks: it spends
-- nothing (a peek of one limit is this script with N = 1).
-- KEYS, one per limit in order (all under one hash tag): gcra TAT, fixed windows or
--   sliding log (see the rl_* helpers)
-- ARGV[1] mode: "1" spend, "0" peek
-- ARGV[2..], per limit: its algorithm ("g"|"f"|"s"), then the arguments of its
--   limiter_hit_<algorithm> script (gcra: inc, tau1, px; fixed and sliding: cost, limit,
--   period, px)
-- Reply: {all allowed (1|0), then 4 integers per limit: allowed (1|0) for its own cost,
--   state, reset (us), wait (us, 0 when allowed)}; state is the gcra TAT's lead over now
--   (us), else the amount used (millionths of a unit); state and reset describe the limit
--   after this call (nothing spent on a peek or when any limit denied)
-- Cost: O(N) for gcra and fixed; a sliding limit costs what limiter_hit_sliding does.
-- Nothing is written until every limit has answered; then the amounts spent (SET, HINCRBY,
-- RPUSH: writes Redis refuses at maxmemory) come first, what has expired is dropped after.
-- Flags: once
local consume = ARGV[1] == '1'
local t = redis.call('TIME')
local now = t[1] * 1000000 + t[2]
local checks, all = {}, true
local i = 2
for k = 1, #KEYS do
  local c = {alg = ARGV[i], k = k, wait = 0}
  if c.alg == 'g' then
    c.inc, c.px = tonumber(ARGV[i + 1]), ARGV[i + 3]
    local tau1 = tonumber(ARGV[i + 2])
    c.ok, c.state, c.after = rl_gcra(tonumber(redis.call('GET', KEYS[k])), now, c.inc, tau1)
    c.reset = c.state
    if not c.ok then c.wait = c.after - tau1 end
    i = i + 4
  else
    c.cost, c.text, c.px = tonumber(ARGV[i + 1]), ARGV[i + 1], ARGV[i + 4]
    local limit, period = tonumber(ARGV[i + 2]), tonumber(ARGV[i + 3])
    c.period = period
    if c.alg == 'f' then
      c.reset = period - now % period
      c.w = string.format('%d', (now + c.reset) / period - 1)  -- as limiter_hit_fixed
      c.old = {}  -- the fields of earlier windows (at most one: see rl_fixed_start)
      local cursor = '0'
      repeat
        local r = redis.call('HSCAN', KEYS[k], cursor)
        cursor = r[1]
        local f = r[2]
        for j = 1, #f, 2 do
          if f[j] == c.w then c.used = tonumber(f[j + 1]) else c.old[#c.old + 1] = f[j] end
        end
      until cursor == '0'
      c.state = c.used or 0
      c.ok = c.state + c.cost <= limit
      if not c.ok then c.wait = c.reset end
    else
      c.ok, c.state, c.wait, c.total, c.reset, c.gone, c.first =
        rl_sliding(KEYS[k], now, c.cost, limit, period)
    end
    i = i + 5
  end
  all = all and c.ok
  checks[k] = c
end
local spend = all and consume
local reply = {all and 1 or 0}
local wrote, drop = false, false  -- wrote: an amount was spent; drop: a log to trim is left
for k = 1, #checks do
  local c = checks[k]
  if spend and c.alg == 'g' then
    if c.inc > 0 then
      redis.call('SET', KEYS[c.k], fmt_int(now + c.after), 'PX', c.px)
      wrote = true
    end
    c.state, c.reset = c.after, c.after
  elseif spend and c.cost > 0 then
    if c.alg == 'f' then
      redis.call('HINCRBY', KEYS[c.k], c.w, c.text)
      if not c.used then rl_fixed_start(KEYS[c.k], c.old, c.px) end
    else
      rl_log(KEYS[c.k], now, c.total, c.text, c.px, c.gone)
      c.reset = c.period
    end
    wrote = true
    c.state = c.state + c.cost
  elseif consume and c.alg == 's' and c.gone > 0 then
    c.drop, drop = true, true  -- after every amount spent
  end
  reply[#reply + 1] = c.ok and 1 or 0
  reply[#reply + 1] = c.state
  reply[#reply + 1] = c.reset
  reply[#reply + 1] = c.wait
end
if drop then  -- sliding logs that logged nothing drop the entries that left
  for k = 1, #checks do
    local c = checks[k]
    if c.drop then
      rl_sliding_drop(KEYS[c.k], c.gone, not wrote and c.first)
      wrote = true
    end
  end
end
return reply
