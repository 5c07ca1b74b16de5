-- cache_clear: remove every entry of the buckets given (all of a cache on one server; on
-- Redis Cluster, the buckets that share one slot). Computations in flight lose their leases.
-- Their waiters are not woken (their wake lists are not among KEYS): each asks again when
-- its wait slice ends, within 2 s.
-- KEYS[2b-1] H (the bucket hash), KEYS[2b] X (the bucket index), for each bucket b; when
-- the call logs events, triples instead: KEYS[3b-2] H, KEYS[3b-1] X, KEYS[3b] the bucket's
-- change log
-- ARGV[1] the handle's bucket count; with events, ARGV[2..4] the logs' cap, retention (ms)
-- and "1" to log values (so 4 ARGV say that KEYS are triples)
-- Reply: number of values removed (stale ones included). Errors: PM_CONFIG (a bucket was
-- written with another bucket count: nothing removed).
-- Events: one "clear" (w "s") in the log of each bucket that held values.
-- Cost: O(M) for M entries in these buckets (M <= the cache's max entries), plus one HGET
-- per bucket. With events: one XADD and one PEXPIRE per bucket that held values.
-- Flags: idempotent allow-oom
local now = clock()
local stride = 2
if #ARGV > 1 then stride = 3 end
for b = 1, #KEYS, stride do
  local err = cache_buckets(redis.call('HGET', KEYS[b], 'b'), ARGV[1])
  if err then return err end
end
local removed = 0
for b = 1, #KEYS, stride do
  local h, x = KEYS[b], KEYS[b + 1]
  local entries = redis.call('ZRANGEBYSCORE', x, '(' .. fmt_int(now), '+inf')
  local values = 0
  if #entries > 0 then  -- (a lost h reads as no values)
    local metas = {}
    for j = 1, #entries do metas[j] = 'm:' .. entries[j] end
    metas = pair_call('HMGET', h, metas)
    for j = 1, #metas do
      local _, _, keep = cache_meta(metas[j] or nil)
      if keep and keep > now then values = values + 1 end
    end
  end
  redis.call('DEL', h, x)
  if stride == 3 and values > 0 then
    ev_add(KEYS[b + 2], ARGV, 'o', 'clear', 'w', 's')
    ev_done(KEYS[b + 2], ARGV)
  end
  removed = removed + values
end
return removed
