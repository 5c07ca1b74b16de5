-- scope_delete: remove one key of a scope.
-- KEYS[1] H  KEYS[2] X  KEYS[3] the scope's change log (only when the call logs events)
-- ARGV[1] key
-- ARGV[2..4] with KEYS[3]: the log's cap, retention (ms) and "1" to log values
-- Reply: 1 when a live key was removed, else 0.
-- Events: "expire" for each key purged, then "delete" (k) when a live key was removed.
-- Cost: O(log N): 3 calls when the key is absent, 5 when present (TIME, HMGET, EXISTS,
-- HDEL, ZREM: a ZRANGE instead of the EXISTS once an entry may have expired), up to 9 when
-- it held the scope's latest expiry; plus O(E) for E expired entries purged and O(N) to
-- repair a scope that lost H or X to eviction. With events: XADD per event, one PEXPIRE
-- when any.
-- Flags: idempotent allow-oom
local h, x, log = KEYS[1], KEYS[2], KEYS[3]
local key = ARGV[1]
local now = clock()
local r = redis.call('HMGET', h, 'm:' .. key, 'e', 'n')
local e, _, dead = scope_settle(h, x, r[2], r[3], now, nil, log ~= nil)
local live = live_meta(r[1], now)
local removed = 0
if live and e then
  local _, was = parse_meta(live)
  redis.call('HDEL', h, 'd:' .. key, 'm:' .. key)
  redis.call('ZREM', x, key)
  pair_expire(h, x, e, pair_target(x, e, nil, was >= e), true)
  removed = 1
end
if log then
  local n = ev_expired(log, ARGV, 'v', dead)
  if removed == 1 then ev_write(log, ARGV, 'delete', 'v', key) end
  if n + removed > 0 then ev_done(log, ARGV) end
end
return removed
