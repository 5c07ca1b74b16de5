-- recall_add: add (or replace) items of a scope's recall index: each an id, a vector built
-- by the client (opaque here: only its length is checked) and a blob (kind and sealed text,
-- opaque too), with its own expiry. First removes the items that have expired.
-- Recall layout (all keys under the scope's hash tag <p>):
--   R  <p>:r   hash  "i:<id>" -> the item: its vector (a fixed length per index), then
--                    its record "<created ms>:<blob>" (one field: a search reads one),
--                    "g" -> the index version (server-clock us, strictly increasing),
--                    "f" -> the floor: changes at or before it are no longer tracked,
--                    "m" -> the embedder signature "<name>|<dimension>|<format>",
--                    "e" -> when the four keys expire (ms; NOEXP: never),
--                    "r" -> with change events, when the retention of the scope's log
--                      is next due to be re-armed (ms; see ev_scope_done),
--                    "k" -> "1": T holds its marker (see recall_whole),
--                    "b" -> the index's creation stamp (its first version; an index
--                      from before it has none), which recall_sync's caches compare
--   X  <p>:rx  zset  id -> expiry (ms; NOEXP: never)
--   C  <p>:rc  zset  id -> version of its last write (a client's cache asks what changed)
--   T  <p>:rt  zset  id -> version of its removal (tombstones, the newest 1,000 or so), and
--                    the marker "" -> +inf, which keeps T there as long as the index
-- The four keys expire with the last-expiring item. A key lost to eviction (any of the four
-- without the others) drops the index whole on the next write, and a read that would send
-- a cache part of it answers that there is no index: a partial index is never served.
-- Item ids are stored as given, or with encrypt_names as their encryption (the client's).
-- KEYS[1] R  KEYS[2] X  KEYS[3] C  KEYS[4] T
-- KEYS[5] the scope's change log (only when the call logs events)
-- ARGV[1] embedder signature  ARGV[2] bytes of one vector  ARGV[3] max items of the scope
-- ARGV[4..] quadruples: id, ttl in ms ("0": never expires), vector, blob (at most
--   max_batch items and 16 MiB per call, checked by the client)
-- then, with KEYS[5], three more: the log's cap, retention (ms) and "1" to log values
-- Reply: the index version after the write (integer text).
-- Errors: PM_EMBEDDER (the index holds another embedder's vectors; the message ends with
-- its signature), PM_INVALID (a vector of the wrong length), PM_FULL (past max items):
-- nothing written.
-- Events (w "r"): "expire" for each item purged, then "add" for each item (k its id, v its
-- version; with values, y "r" and p its record "<created ms>:<blob>").
-- Cost: O(n log N) for n items, plus O(E) for E expired items purged; 9-11 calls. With
-- events: XADD per event, and PEXPIREAT and HSET "r" when the log's retention is due.
-- Flags: idempotent
local r, x, c, t, log = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local sig, vbytes, cap = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local last_arg = #ARGV
if log then last_arg = last_arg - 3 end
local NEVER = 4503599627370496
local now, now_us = clock()
local st
if log then
  st = redis.call('HMGET', r, 'g', 'm', 'e', 'k', 'r')
else
  st = redis.call('HMGET', r, 'g', 'm', 'e', 'k')
end
local g, m, e, k = st[1], st[2], st[3], st[4]
if not recall_whole(x, c, t, g, k) then
  redis.call('DEL', r, x, c, t)  -- eviction took part of the index
  g, m, e, k = false, false, false, false
end
if m and m ~= sig then
  return redis.error_reply('PM_EMBEDDER the index holds vectors of ' .. m)
end
local ids = {}
for i = 4, last_arg, 4 do
  if #ARGV[i + 2] ~= vbytes then
    return redis.error_reply('PM_INVALID a vector of ' .. #ARGV[i + 2] .. ' bytes, not ' .. vbytes)
  end
  ids[#ids + 1] = ARGV[i]
end
-- the cap counts live items after the write: those live now plus the new ids
local stamp = string.format('%d', now)
local live = redis.call('ZCOUNT', x, '(' .. stamp, '+inf')
local known = redis.call('ZMSCORE', x, unpack(ids))
local extra = 0
for i = 1, #ids do
  if not known[i] or tonumber(known[i]) <= now then extra = extra + 1 end
end
if live + extra > cap then
  return redis.error_reply('PM_FULL the index holds its maximum of ' .. cap .. ' items')
end
local version = now_us
if g and version <= tonumber(g) then version = tonumber(g) + 1 end
-- purge the expired items (tombstones at `version`)
local dead = redis.call('ZRANGEBYSCORE', x, '-inf', stamp)
if #dead > 0 then recall_drop(r, x, c, t, dead, string.format('%d', version)) end
-- the items, each its own version (after `floor`: a new index tracks its changes from there)
local floor = string.format('%d', version)
local data, expiries, versions = {}, {}, {}
for i = 4, last_arg, 4 do
  local ttl = tonumber(ARGV[i + 1])
  local expiry = NEVER
  if ttl > 0 then expiry = now + ttl end
  version = version + 1
  data[#data + 1] = 'i:' .. ARGV[i]
  data[#data + 1] = ARGV[i + 2] .. stamp .. ':' .. ARGV[i + 3]
  expiries[#expiries + 1] = string.format('%d', expiry)
  expiries[#expiries + 1] = ARGV[i]
  versions[#versions + 1] = string.format('%d', version)
  versions[#versions + 1] = ARGV[i]
end
local head = string.format('%d', version)
if not g then
  redis.call('HSET', r, 'g', head, 'f', floor, 'm', sig, 'k', '1', 'b', floor, unpack(data))
  redis.call('ZADD', t, '+inf', '')
else
  recall_mark(r, t, g, k, e)
  redis.call('HSET', r, 'g', head, unpack(data))
end
redis.call('ZADD', x, unpack(expiries))
redis.call('ZADD', c, unpack(versions))
redis.call('ZREM', t, unpack(ids))
-- keep the newest tombstones; a client whose cache is older than the floor reloads it
local tombs = redis.call('ZCARD', t)
if tombs > 1000 then
  local old = redis.call('ZRANGE', t, 0, tombs - 501, 'WITHSCORES')
  redis.call('ZREMRANGEBYRANK', t, 0, tombs - 501)
  redis.call('HSET', r, 'f', old[#old])
end
recall_expire(r, x, c, t, e, #dead > 0)
if log then
  local _, created = ev_expired(log, ARGV, 'r', dead)
  local values = ev_values(ARGV)
  for i = 2, #versions, 2 do
    local record = nil
    if values then record = string.sub(data[i], vbytes + 1) end
    created = ev_write(log, ARGV, 'add', 'r', versions[i], versions[i - 1], 'r', record)
      or created
  end
  ev_scope_done(r, log, ARGV, st[5], now, created)
end
return head
