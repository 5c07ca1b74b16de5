-- cache_clear: remove every entry of the buckets given (all of a cache on one server; on
-- Redis Cluster, the buckets that share one slot). Computations in flight lose their leases
-- and their waiters are woken.
-- KEYS[1..b] I, the index of each bucket. The entry keys are derived from each index key's
-- prefix, so they share its hash tag and slot.
-- ARGV: none
-- Reply: number of values removed (stale ones included). Cost: O(M) for M entries in these
-- buckets (M <= the cache's max entries).
local removed = 0
for b = 1, #KEYS do
  local i = KEYS[b]
  local p = string.sub(i, 1, -2)
  local members = redis.call('ZRANGE', i, 0, -1)
  for j = 1, #members do
    removed = removed + cache_drop(p, members[j])
  end
  redis.call('DEL', i)
end
return removed
