-- cache_peek: get_or_compute's first call. The value of a cache entry when cache_fetch
-- would serve it without writing, else "fetch": a read, so a hit runs as FCALL_RO (through
-- CLIENT PAUSE WRITE, on a replica).
-- KEYS[1] H (the bucket hash)
-- ARGV[1] key  ARGV[2] the handle's bucket count  ARGV[3] serve stale ("1"|"0")
-- ARGV[4] beta (float text, >= 0; 0: no early refresh)
-- ARGV[5] a random number in (0, 1] (float text) for the early-refresh draw
-- Reply: {meta, payload, 1} a fresh value not chosen for early refresh (or chosen while a
--                           lease is held): cache_fetch's hit
--        {meta, payload, 5} a stale value while another caller holds the lease to refresh
--                           it (serve stale only): cache_fetch's stale
--        0                  anything else (missing, due for early refresh, stale and not
--                           being refreshed, being computed): call cache_fetch, which
--                           decides again (with the same draw)
-- (a value's reply is HMGET's own table, its kind in place of the field "b": no table is
-- built for it)
-- The early-refresh decision is cache_fetch's: now - compute * beta * ln(draw) >= expiry,
-- with the server clock.
-- Errors: PM_CONFIG (the bucket was written with another bucket count).
-- Cost: O(1) (TIME and one HMGET on a hit; one more HGET when a value is due for early
-- refresh or stale). Read only.
-- Flags: no-writes
local h, key = KEYS[1], ARGV[1]
local r = redis.call('HMGET', h, 'm:' .. key, 'd:' .. key, 'b')
if r[3] and r[3] ~= ARGV[2] then return cache_buckets(r[3], ARGV[2]) end
if not r[1] then return 0 end
local now = scope_now()
local expiry, compute = string.match(r[1], '^%a (%d+) %d+ (%d+)')
expiry = expiry + 0
if expiry > now then  -- fresh (keep, the end of its stale time, is at least its expiry)
  -- (a draw is at least 2^-53, so -ln(draw) < 37: a value this far from its expiry is
  -- served whatever the draw, without taking its logarithm)
  if compute == '0' or expiry - now > compute * ARGV[4] * 37
    or now - compute * ARGV[4] * math.log(ARGV[5]) < expiry then
    r[3] = 1
    return r
  end
elseif ARGV[3] ~= '1' or select(2, cache_times(r[1])) <= now then
  return 0  -- stale, and not served stale (or past its stale time)
end
-- due for early refresh, or stale: served as is while another caller holds the lease
local ends = cache_lease(redis.call('HGET', h, 'l:' .. key) or nil)
if not ends or ends <= now then return 0 end
r[3] = expiry > now and 1 or 5
return r
