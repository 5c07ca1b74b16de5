-- cache_fetch: the value of a cache entry, or a lease to compute it, or "someone is
-- computing it: wait".
-- KEYS[1] H (the bucket hash)  KEYS[2] X (the bucket index)
-- KEYS[3] the bucket's change log (only when the call logs events)
-- ARGV[1] key  ARGV[2] lease time in ms (> 0)  ARGV[3] serve stale ("1"|"0")
-- ARGV[4] beta (float text, >= 0; 0: no early refresh)
-- ARGV[5] a random number in (0, 1] (float text) for the early-refresh draw
-- ARGV[6] max entries in the bucket  ARGV[7] the handle's bucket count
-- ARGV[8] this fetch's id (hex digits, fresh for each call; the same when sent again)
-- ARGV[9..11] with KEYS[3]: the log's cap, retention (ms) and "1" to log values
-- Reply: {1, meta, payload} a fresh value (hit; the type is meta's first character)
--        {2, token}         the value is missing: the caller holds the lease and computes
--        {3, ms}            another caller holds the lease for `ms` more: wait on the
--                           entry's wake list (the caller is counted as a waiter)
--        {4, token}         the value is fresh but due for early refresh (XFetch), or stale
--                           and served stale to others: the caller holds the lease
--        {5, meta, payload} a stale value, served while another caller refreshes it
-- Sent again (its reply lost), a fetch that took the lease finds it under its id and gets
-- the same reply, {2, token} or {4, token}, writing nothing; one that waited is counted as
-- a waiter twice (one more wake-up element, at most).
-- Errors: PM_CONFIG (the bucket was written with another bucket count).
-- Events (only when a lease is taken): "expire" for each entry dropped (dead, or evicted to
-- make room). A lease changes no value: no event of its own.
-- Cost: O(1) on a hit or a wait (2 calls); O(log M + E) when a lease is taken (M entries
-- in the bucket, E dead or evicted ones dropped, E <= M <= cap). With events: XADD per
-- event, one PEXPIRE when any.
-- Flags: idempotent
local h, x, log = KEYS[1], KEYS[2], KEYS[3]
local key, serve_stale = ARGV[1], ARGV[3]
local r = redis.call('HMGET', h, 'm:' .. key, 'd:' .. key, 'l:' .. key, 'e', 'b')
if r[5] and r[5] ~= ARGV[7] then return cache_buckets(r[5], ARGV[7]) end
local now, now_us = clock()
local ends, holder, waiters, attempt = cache_lease(r[3])
local leased = ends and ends > now
local expiry, keep, compute = 0, 0, 0  -- no value: neither fresh nor stale
if r[1] then expiry, keep, compute = cache_times(r[1]) end
if leased and attempt ~= '' and attempt == ARGV[8] then  -- this fetch, sent again
  if keep > now and (expiry > now or serve_stale == '1') then return {4, holder} end
  return {2, holder}
end

-- what the caller gets unless it is served: 2 the lease to compute a missing value, 4 the
-- lease to refresh a value
local kind = 2
if keep > now then
  if expiry > now then
    -- XFetch: refresh early with a probability that grows as expiry nears, scaled by how
    -- long the value took to compute: now - compute * beta * ln(draw) >= expiry
    if leased or compute == 0 or ARGV[4] + 0 == 0
      or now - compute * ARGV[4] * math.log(ARGV[5]) < expiry then
      return {1, r[1], r[2]}
    end
    kind = 4
  elseif serve_stale == '1' then
    if leased then return {5, r[1], r[2]} end
    kind = 4
  end
end
if leased then  -- wait, counted as a waiter
  local lease = fmt_int(ends) .. ' ' .. holder .. ' ' .. fmt_int(waiters + 1)
  if attempt ~= '' then lease = lease .. ' ' .. attempt end
  redis.call('HSET', h, 'l:' .. key, lease)
  return {3, ends - now}
end

-- take the lease
local lease_ms = tonumber(ARGV[2])
local _, _, _, _, last = cache_meta(r[1])
local token = cache_fence(now_us, last, holder)
local e, _, dead = pair_settle(h, x, r[4], now, CACHE_FIELDS, cache_drop, true, log ~= nil)
local was = nil
if e then was = cache_score(r[1] and keep, ends, now) end
local evicted, gone = false, nil
if not was then evicted, gone = cache_room(h, x, e, tonumber(ARGV[6])) end
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
if log and (dead or gone) then
  ev_expired(log, ARGV, 'c', dead)
  ev_expired(log, ARGV, 'c', gone)
  ev_done(log, ARGV)
end
return {kind, token}
