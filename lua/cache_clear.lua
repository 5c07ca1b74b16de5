-- cache_clear: remove every entry of the buckets given (all of a cache on one server; on
-- Redis Cluster, the buckets that share one slot). Computations in flight lose their leases.
-- Their waiters are not woken (their wake lists are not among KEYS): each asks again when
-- its wait slice ends, within 2 s.
-- KEYS[2b-1] H (the bucket hash), KEYS[2b] X (the bucket index), for each bucket b
-- ARGV: none
-- Reply: number of values removed (stale ones included). Cost: O(M) for M entries in these
-- buckets (M <= the cache's max entries).
-- Flags: idempotent
local now = clock()
local removed = 0
for b = 1, #KEYS, 2 do
  local h, x = KEYS[b], KEYS[b + 1]
  local entries = redis.call('ZRANGEBYSCORE', x, '(' .. fmt_int(now), '+inf')
  for j = 1, #entries do
    local _, _, keep = cache_meta(redis.call('HGET', h, 'm:' .. entries[j]))
    if keep and keep > now then removed = removed + 1 end
  end
  redis.call('DEL', h, x)
end
return removed
