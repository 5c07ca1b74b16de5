-- recall_touch: give live items of a scope's recall index a new expiry, without sending
-- their vectors again (an item that outlives its writer's data, such as a store's item whose
-- time to live a read re-armed). Each item touched gets a new version, so that every
-- client's cache of the index reads its expiry again; the index keys expire with the
-- last-expiring item, as after an add.
-- KEYS[1] R  KEYS[2] X  KEYS[3] C  KEYS[4] T  (see the recall layout in recall_add.lua)
-- ARGV[1] ttl in ms ("0": never expires)  ARGV[2..] ids (distinct; at most max_batch,
--   checked by the client)
-- Reply: how many of them were live (those past their expiry are left as they are: the next
-- write purges them).
-- Events: none (no item changes: their vectors and records stay as they are).
-- Cost: O(n log N) for n ids: TIME, HMGET, EXISTS (DEL when eviction took part of the
-- index), ZMSCORE, then when any is live ZADD (X),
-- ZADD (C), HSET, ZRANGE, and the keys' expiry when it moves (HSET, 4 PEXPIREAT or PERSIST).
-- Flags: idempotent
local r, x, c, t = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local ttl = tonumber(ARGV[1])
local NEVER = 4503599627370496
local now, now_us = clock()
local g, e = recall_state(r, x, c, t)
if not g then return 0 end  -- no index, or eviction took part of it (dropped)
local expiry = NEVER
if ttl > 0 then expiry = now + ttl end
local at = string.format('%d', expiry)
local known = redis.call('ZMSCORE', x, unpack(ARGV, 2))
local version = now_us
if version <= tonumber(g) then version = tonumber(g) + 1 end
local expiries, versions = {}, {}
for i = 1, #known do
  if known[i] and tonumber(known[i]) > now then
    expiries[#expiries + 1] = at
    expiries[#expiries + 1] = ARGV[i + 1]
    version = version + 1
    versions[#versions + 1] = string.format('%d', version)
    versions[#versions + 1] = ARGV[i + 1]
  end
end
if #versions == 0 then return 0 end
redis.call('ZADD', x, unpack(expiries))
redis.call('ZADD', c, unpack(versions))
redis.call('HSET', r, 'g', string.format('%d', version))
recall_expire(r, x, c, t, e, false)  -- this may have moved the last expiry either way
return #versions / 2
