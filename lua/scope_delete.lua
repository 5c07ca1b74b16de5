-- scope_delete: remove one key of a scope.
-- KEYS[1] H  KEYS[2] X
-- ARGV[1] key
-- Reply: 1 when a live key was removed, else 0.
-- Cost: O(log N): 3 calls when the key is absent, 5 when present (TIME, HMGET, EXISTS,
-- HDEL, ZREM: a ZRANGE instead of the EXISTS once an entry may have expired), up to 9 when
-- it held the scope's latest expiry; plus O(E) for E expired entries purged and O(N) to
-- repair a scope that lost H or X to eviction.
-- Flags: idempotent allow-oom
local h, x = KEYS[1], KEYS[2]
local key = ARGV[1]
local now = clock()
local r = redis.call('HMGET', h, 'm:' .. key, 'e', 'n')
local e = scope_settle(h, x, r[2], r[3], now)
local live = live_meta(r[1], now)
if not live or not e then return 0 end
local _, was = parse_meta(live)
redis.call('HDEL', h, 'd:' .. key, 'm:' .. key)
redis.call('ZREM', x, key)
pair_expire(h, x, e, pair_target(x, e, nil, was >= e), true)
return 1
