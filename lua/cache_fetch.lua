-- cache_fetch: the value of a cache entry, or a lease to compute it, or "someone is
-- computing it: wait".
-- KEYS[1] H (the bucket hash)  KEYS[2] X (the bucket index)
-- ARGV[1] key  ARGV[2] lease time in ms (> 0)  ARGV[3] serve stale ("1"|"0")
-- ARGV[4] beta (float text, >= 0; 0: no early refresh)
-- ARGV[5] a random number in (0, 1] (float text) for the early-refresh draw
-- ARGV[6] max entries in the bucket  ARGV[7] the handle's bucket count
-- ARGV[8] this fetch's id (hex digits, fresh for each call; the same when sent again)
-- Reply: {1, type, payload} a fresh value (hit)
--        {2, token}         the value is missing: the caller holds the lease and computes
--        {3, ms}            another caller holds the lease for `ms` more: wait on the
--                           entry's wake list (the caller is counted as a waiter)
--        {4, token}         the value is fresh but due for early refresh (XFetch), or stale
--                           and served stale to others: the caller holds the lease
--        {5, type, payload} a stale value, served while another caller refreshes it
-- Sent again (its reply lost), a fetch that took the lease finds it under its id and gets
-- the same reply, {2, token} or {4, token}, writing nothing; one that waited is counted as
-- a waiter twice (one more wake-up element, at most).
-- Errors: PM_CONFIG (the bucket was written with another bucket count).
-- Cost: O(1) on a hit or a wait (2 calls); O(log M + E) when a lease is taken (M entries
-- in the bucket, E dead or evicted ones dropped, E <= M <= cap).
-- Flags: idempotent
local h, x = KEYS[1], KEYS[2]
local key, lease_ms, serve_stale = ARGV[1], tonumber(ARGV[2]), ARGV[3]
local beta, draw = tonumber(ARGV[4]), tonumber(ARGV[5])
local now, now_us = clock()
local r = redis.call('HMGET', h, 'm:' .. key, 'd:' .. key, 'l:' .. key, 'e', 'b')
local err = cache_buckets(r[5], ARGV[7])
if err then return err end
local vtype, expiry, keep, compute, last = cache_meta(r[1])
local ends, holder, waiters, attempt = cache_lease(r[3])
local leased = ends and ends > now
if leased and attempt ~= '' and attempt == ARGV[8] then  -- this fetch, sent again
  if vtype and keep > now and (expiry > now or serve_stale == '1') then return {4, holder} end
  return {2, holder}
end

local function take_lease()
  local token = cache_fence(now_us, last, holder)
  local e = pair_settle(h, x, r[4], now, CACHE_FIELDS, cache_drop, true)
  local was = nil
  if e then was = cache_score(keep, ends, now) end
  local evicted = false
  if not was then evicted = cache_room(h, x, e, tonumber(ARGV[6])) end
  local score = now + lease_ms
  if was and was > score then score = was end
  redis.call('ZADD', x, fmt_int(score), key)
  local target = pair_target(x, e, score, evicted)
  local lease = fmt_int(now + lease_ms) .. ' ' .. token .. ' 0 ' .. ARGV[8]
  if not e then
    redis.call('HSET', h, 'l:' .. key, lease, 'e', fmt_int(target), 'b', ARGV[7])
  elseif target ~= e then
    redis.call('HSET', h, 'l:' .. key, lease, 'e', fmt_int(target))
  else
    redis.call('HSET', h, 'l:' .. key, lease)
  end
  pair_expire(h, x, e, target, false)
  return token
end

if vtype and keep > now then
  if expiry > now then
    -- XFetch: refresh early with a probability that grows as expiry nears, scaled by how
    -- long the value took to compute: now - compute * beta * ln(draw) >= expiry
    if beta > 0 and compute > 0 and not leased
      and now - compute * beta * math.log(draw) >= expiry then
      return {4, take_lease()}
    end
    return {1, vtype, r[2]}
  end
  if serve_stale == '1' then
    if not leased then return {4, take_lease()} end
    return {5, vtype, r[2]}
  end
end
if not leased then return {2, take_lease()} end
local lease = fmt_int(ends) .. ' ' .. holder .. ' ' .. fmt_int(waiters + 1)
if attempt ~= '' then lease = lease .. ' ' .. attempt end
redis.call('HSET', h, 'l:' .. key, lease)
return {3, ends - now}
