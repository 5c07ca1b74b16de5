-- limiter_hit: check N rate limits at once on the server's clock, and consume the cost from
-- every one of them only if all allow (all or nothing). N = 1 is a plain hit; mode "0" peeks.
-- KEYS, per limit in order (all under one hash tag):
--   gcra     1 key: string, the theoretical arrival time (us, integer text)
--   fixed    1 key: string "<window index>:<used>"
--   sliding  2 keys: zset log of admitted hits (member "<us>:<seq>:<cost>", score us),
--            and a string holding the sum of the log's costs
-- ARGV[1] mode: "1" consume, "0" peek (writes nothing)
-- ARGV[2..], 5 per limit: algorithm ("g"|"f"|"s"), limit (units, number text),
--   period (us, integer text), capacity (units: the gcra burst, else the limit),
--   cost (units, number text, 0 <= cost <= capacity: checked by the caller)
-- Reply: {all allowed (1|0), then 4 per limit: allowed (1|0) for its own cost, remaining
--   (millionths of a unit), retry_after (us), reset_after (us)}, all integers; remaining and reset_after
--   describe the limit after this call (nothing spent on a peek or when any limit denied)
-- Cost: O(N) for gcra and fixed; sliding adds O(E) for E expired log entries removed (each
-- entry is removed once) and, on a denial, O(k) for the k oldest entries that must expire
-- before the cost fits. A sliding log holds at most MAX_LOG entries.
local consume = ARGV[1] == '1'
local MAX_LOG = 100000
local _, now = clock()

-- a - b > 0, tolerating the rounding of fractional costs and rates
local function exceeds(a, b)
  return a - b > 1e-9 * math.max(1, math.abs(b))
end

local function num(n)
  return string.format('%.17g', n)
end

local function gcra(s)
  local t = s.period / s.limit  -- us per unit
  local tau = s.capacity * t
  local tat = tonumber(redis.call('GET', s.keys[1]) or '0')
  if tat < now then tat = now end
  -- whole us, rounded up: an integer string is the smallest thing Redis stores
  local new_tat = math.ceil(tat + s.cost * t - 0.001)
  local wait = new_tat - tau - now
  s.before, s.reset_before = (tau - (tat - now)) / t, tat - now
  if wait > 1 then  -- 1 us of tolerance for the rounding of fractional rates
    s.allowed, s.retry = false, wait
  else
    s.allowed, s.retry = true, 0
    s.after, s.reset_after, s.write = (tau - (new_tat - now)) / t, new_tat - now, new_tat
  end
end

local function gcra_commit(s)
  if s.cost > 0 then
    redis.call('SET', s.keys[1], fmt_int(s.write), 'PX', math.max(1, math.ceil(s.reset_after / 1000)))
  end
end

local function fixed(s)
  local win = math.floor(now / s.period)
  local used = 0
  local v = redis.call('GET', s.keys[1])
  if v then
    local sep = string.find(v, ':', 1, true)
    if tonumber(string.sub(v, 1, sep - 1)) == win then used = tonumber(string.sub(v, sep + 1)) end
  end
  s.before, s.reset_before = s.limit - used, (win + 1) * s.period - now
  if exceeds(used + s.cost, s.limit) then
    s.allowed, s.retry = false, s.reset_before
  else
    s.allowed, s.retry = true, 0
    s.after, s.reset_after = s.limit - used - s.cost, s.reset_before
    s.write = fmt_int(win) .. ':' .. num(used + s.cost)
  end
end

local function fixed_commit(s)
  if s.cost > 0 then
    redis.call('SET', s.keys[1], s.write, 'PX', math.max(1, math.ceil(s.reset_after / 1000)))
  end
end

local function entry_cost(member)
  return tonumber(string.match(member, '[^:]+$'))
end

-- when the oldest live entries will have freed `over` units (us from now)
local function sliding_wait(log, cutoff, period, over)
  local freed, offset = 0, 0
  while true do
    local r = redis.call('ZRANGEBYSCORE', log, '(' .. fmt_int(cutoff), '+inf', 'WITHSCORES',
      'LIMIT', offset, 64)
    if #r == 0 then return period end
    for i = 1, #r, 2 do
      freed = freed + entry_cost(r[i])
      if not exceeds(over, freed) then return tonumber(r[i + 1]) + period - now end
    end
    offset = offset + 64
  end
end

local function sliding(s)
  local log, total = s.keys[1], s.keys[2]
  local cutoff = now - s.period  -- entries at or before it have left the window
  local sum = tonumber(redis.call('GET', total) or '0')
  local n = redis.call('ZCARD', log)
  local old = redis.call('ZRANGEBYSCORE', log, '-inf', fmt_int(cutoff))
  for i = 1, #old do sum = sum - entry_cost(old[i]) end
  n = n - #old
  if n == 0 or sum < 0 then sum = 0 end
  if consume and #old > 0 then
    if n == 0 then
      redis.call('DEL', log, total)
    else
      redis.call('ZREMRANGEBYSCORE', log, '-inf', fmt_int(cutoff))
      redis.call('SET', total, num(sum), 'KEEPTTL')
    end
  end
  local newest = 0
  if n > 0 then newest = tonumber(redis.call('ZRANGE', log, -1, -1, 'WITHSCORES')[2]) end
  s.sum, s.before, s.reset_before = sum, s.limit - sum, 0
  if n > 0 then s.reset_before = newest + s.period - now end
  if exceeds(sum + s.cost, s.limit) or (s.cost > 0 and n >= MAX_LOG) then
    local over = math.max(sum + s.cost - s.limit, 0)
    if n >= MAX_LOG then over = math.max(over, entry_cost(redis.call('ZRANGE', log, 0, 0)[1])) end
    s.allowed, s.retry = false, sliding_wait(log, cutoff, s.period, over)
  else
    s.allowed, s.retry = true, 0
    s.after, s.reset_after = s.limit - sum - s.cost, s.reset_before
    if s.cost > 0 then s.reset_after = s.period end
  end
end

local function sliding_commit(s)
  if s.cost == 0 then return end
  local log, total = s.keys[1], s.keys[2]
  local ms = math.max(1, math.ceil(s.period / 1000))
  local seq = 0
  while redis.call('ZADD', log, 'NX', fmt_int(now), fmt_int(now) .. ':' .. seq .. ':' .. s.text) == 0 do
    seq = seq + 1
  end
  redis.call('PEXPIRE', log, ms)
  redis.call('SET', total, num(s.sum + s.cost), 'PX', ms)
end

local CHECK = {g = gcra, f = fixed, s = sliding}
local COMMIT = {g = gcra_commit, f = fixed_commit, s = sliding_commit}
local NKEYS = {g = 1, f = 1, s = 2}

local limits = {}
local all = true
local k = 1
for i = 2, #ARGV, 5 do
  local alg = ARGV[i]
  local s = {
    alg = alg, limit = tonumber(ARGV[i + 1]), period = tonumber(ARGV[i + 2]),
    capacity = tonumber(ARGV[i + 3]), cost = tonumber(ARGV[i + 4]), text = ARGV[i + 4],
    keys = {KEYS[k], KEYS[k + 1]},
  }
  k = k + NKEYS[alg]
  CHECK[alg](s)
  all = all and s.allowed
  limits[#limits + 1] = s
end
local reply = {0}
if all then reply[1] = 1 end
for i = 1, #limits do
  local s = limits[i]
  -- what the limit holds after this call: spent only when every limit allowed
  local remaining, reset = s.before, s.reset_before
  if all and consume then
    COMMIT[s.alg](s)
    remaining, reset = s.after, s.reset_after
  end
  local allowed = 0
  if s.allowed then allowed = 1 end
  -- whole numbers (integer replies, cheaper than formatting floats): remaining in
  -- millionths of a unit (limits are at most 1e9 units, so this stays below 2^53)
  reply[#reply + 1] = allowed
  reply[#reply + 1] = math.floor(math.max(0, remaining) * 1000000 + 0.5)
  reply[#reply + 1] = math.floor(math.max(0, s.retry) + 0.5)
  reply[#reply + 1] = math.floor(math.max(0, reset) + 0.5)
end
return reply
