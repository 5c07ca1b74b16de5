-- cache_fetch: the value of a cache entry, or a lease to compute it, or "someone is
-- computing it: wait".
-- KEYS[1] V (value hash)  KEYS[2] L (lease)  KEYS[3] N (waiter count)  KEYS[4] W (wake list)
-- KEYS[5] I (bucket index)
-- ARGV[1] key  ARGV[2] lease time in ms (> 0)  ARGV[3] serve stale ("1"|"0")
-- ARGV[4] beta (float text, >= 0; 0: no early refresh)
-- ARGV[5] a random number in (0, 1] (float text) for the early-refresh draw
-- ARGV[6] max entries in the bucket
-- Reply: {1, type, payload} a fresh value (hit)
--        {2, token}         the value is missing: the caller holds the lease and computes
--        {3, ms}            another caller holds the lease for `ms` more: wait on W
--        {4, token}         the value is fresh but due for early refresh (XFetch), or stale
--                           and served stale to others: the caller holds the lease
--        {5, type, payload} a stale value, served while another caller refreshes it
-- Cost: O(1) on a hit; O(log M + E) when a lease is taken (M entries in the bucket, E
-- expired or evicted ones dropped from its index, E <= M <= cap).
local v, l, n, w, i = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local key, lease_ms, serve_stale = ARGV[1], tonumber(ARGV[2]), ARGV[3]
local beta, draw = tonumber(ARGV[4]), tonumber(ARGV[5])
local now, now_us = clock()

local function take_lease()
  local token = fmt_int(cache_fence(v, now_us))
  redis.call('SET', l, token, 'PX', lease_ms)
  cache_index(i, key, now + lease_ms, tonumber(ARGV[6]), now, true)
  return token
end

local r = redis.call('HMGET', v, 't', 'd', 'e', 'c')
if r[1] then
  local expiry = tonumber(r[3])
  if expiry > now then
    -- XFetch: refresh early with a probability that grows as expiry nears, scaled by how
    -- long the value took to compute: now - compute * beta * ln(draw) >= expiry
    local compute = tonumber(r[4]) or 0
    if beta > 0 and compute > 0 and now - compute * beta * math.log(draw) >= expiry
      and redis.call('EXISTS', l) == 0 then
      return {4, take_lease()}
    end
    return {1, r[1], r[2]}
  end
  if serve_stale == '1' then
    if redis.call('EXISTS', l) == 0 then return {4, take_lease()} end
    return {5, r[1], r[2]}
  end
end
local left = redis.call('PTTL', l)
if left < 0 then return {2, take_lease()} end
redis.call('INCR', n)
redis.call('PEXPIRE', n, left + 1000)
return {3, left}
