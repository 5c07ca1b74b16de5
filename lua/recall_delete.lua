-- recall_delete: remove items of a scope's recall index by id (and any that have expired).
-- KEYS[1] R  KEYS[2] X  KEYS[3] C  KEYS[4] T  (see the recall layout in recall_add.lua)
-- KEYS[5] the scope's change log (only when the call logs events)
-- ARGV[1..] ids (distinct; at most max_batch, checked by the client)
-- then, with KEYS[5], three more: the log's cap, retention (ms) and "1" to log values
-- Reply: how many of them were live.
-- Events (w "r"): "expire" for each item purged (those of the ids that had expired too),
-- then "delete" (k) for each live item removed.
-- Cost: O((n + E) log N) for n ids and E expired items purged; one ZRANGE more when the
-- last-expiring item goes. When no item is left, the four keys go. With events: XADD per
-- event, one PEXPIRE when any.
-- Flags: idempotent allow-oom
local r, x, c, t, log = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local n = #ARGV
if log then n = n - 3 end
local NEVER = 4503599627370496
local now, now_us = clock()
local g, e, k = recall_state(r, x, c, t)
if not g then return 0 end  -- no index, or eviction took part of it (dropped)
local stamp = string.format('%d', now)
local known = redis.call('ZMSCORE', x, unpack(ARGV, 1, n))
local gone, seen, removed = {}, {}, {}
for i = 1, n do
  if known[i] then
    if tonumber(known[i]) > now then removed[#removed + 1] = ARGV[i] end
    gone[#gone + 1] = ARGV[i]
    seen[ARGV[i]] = true
  end
end
local dead = redis.call('ZRANGEBYSCORE', x, '-inf', stamp)
for i = 1, #dead do
  if not seen[dead[i]] then gone[#gone + 1] = dead[i] end
end
if #gone == 0 then return 0 end
local version = now_us
if version <= tonumber(g) then version = tonumber(g) + 1 end
local head = string.format('%d', version)
recall_mark(r, t, g, k, e)
recall_drop(r, x, c, t, gone, head)
local last = redis.call('ZRANGE', x, -1, -1, 'WITHSCORES')
if #last == 0 then
  redis.call('DEL', r, x, c, t)
else
  redis.call('HSET', r, 'g', head)
  local tombs = redis.call('ZCARD', t)
  if tombs > 1000 then
    local old = redis.call('ZRANGE', t, 0, tombs - 501, 'WITHSCORES')
    redis.call('ZREMRANGEBYRANK', t, 0, tombs - 501)
    redis.call('HSET', r, 'f', old[#old])
  end
  local at = tonumber(last[2])
  if at ~= tonumber(e) then redis.call('HSET', r, 'e', string.format('%d', at)) end
  if at >= NEVER then
    redis.call('PERSIST', t)
  else
    at = string.format('%d', at)
    redis.call('PEXPIREAT', r, at)
    redis.call('PEXPIREAT', x, at)
    redis.call('PEXPIREAT', c, at)
    redis.call('PEXPIREAT', t, at)
  end
end
if log then
  local logged = ev_expired(log, ARGV, 'r', dead)
  for i = 1, #removed do ev_write(log, ARGV, 'delete', 'r', removed[i]) end
  if logged + #removed > 0 then ev_done(log, ARGV) end
end
return #removed
