-- scope_delete: remove one key of a scope.
-- KEYS[1] H  KEYS[2] X
-- ARGV[1] key
-- Reply: 1 when a live key was removed, else 0. Cost: O(log N + E).
-- Flags: idempotent
local h, x = KEYS[1], KEYS[2]
local key = ARGV[1]
local now = clock()
local old = redis.call('HGET', h, 'm:' .. key)
if not old then return 0 end
redis.call('HDEL', h, 'd:' .. key, 'm:' .. key)
redis.call('ZREM', x, key)
purge_expired(h, x, now)
shrink_scope(h, x)
if live_meta(old, now) then return 1 end
return 0
