-- cache_clear: remove every entry of the buckets given (all of a cache on one server; on
-- Redis Cluster, the buckets that share one slot). Computations in flight lose their leases.
-- Their waiters are not woken (their wake lists are not among KEYS): each asks again when
-- its wait slice ends, within 2 s.
-- KEYS[2b-1] H (the bucket hash), KEYS[2b] X (the bucket index), for each bucket b
-- ARGV[1] the handle's bucket count
-- Reply: number of values removed (stale ones included). Errors: PM_CONFIG (a bucket was
-- written with another bucket count: nothing removed). Cost: O(M) for M entries in these
-- buckets (M <= the cache's max entries), plus one HGET per bucket.
-- Flags: idempotent allow-oom
local now = clock()
for b = 1, #KEYS, 2 do
  local err = cache_buckets(redis.call('HGET', KEYS[b], 'b'), ARGV[1])
  if err then return err end
end
local removed = 0
for b = 1, #KEYS, 2 do
  local h, x = KEYS[b], KEYS[b + 1]
  local entries = redis.call('ZRANGEBYSCORE', x, '(' .. fmt_int(now), '+inf')
  if #entries > 0 then  -- (a lost h reads as no values)
    local metas = {}
    for j = 1, #entries do metas[j] = 'm:' .. entries[j] end
    metas = pair_call('HMGET', h, metas)
    for j = 1, #metas do
      local _, _, keep = cache_meta(metas[j] or nil)
      if keep and keep > now then removed = removed + 1 end
    end
  end
  redis.call('DEL', h, x)
end
return removed
