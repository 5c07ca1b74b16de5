-- recall_sync: what a client's cache of a recall index needs to catch up (a search scores on the
-- client): nothing when its version is current, else the items written since its version (all of
-- them when it has none, or when removals after its base were trimmed from the tombstones), oldest
-- write first, and the ids removed since. Items past their expiry but not yet purged come with
-- their expiry; the client leaves them out.
-- KEYS[1] R  KEYS[2] X  KEYS[3] C  KEYS[4] T  (see the recall layout in recall_add.lua)
-- ARGV[1] embedder signature  ARGV[2] the client's version ("": none)  ARGV[3] its base:
-- the version from which it has seen every removal (its version, except while it reads
-- the pages of a reload: the index's version when the reload began)  ARGV[4] most items
-- per reply  ARGV[5] most bytes of vectors and blobs per reply (at least one item is sent)
-- ARGV[6] the creation stamp of the index the client read ("" none, or an index without one)
-- Reply: {version, now ms} when the client is current (version "0": no index), else {version, now
-- ms, reset, more, head, n, stamp, id x n, item x n, k, (index, expiry) x k, removed ids...}:
-- stamp the index's creation stamp (R's "b"; reset when it is not the client's); each item
-- its vector, then its record "<created ms>:<blob>"; reset "1" when the items replace the client's
-- cache (else they update it), more "1" when the client must ask again from `version` (a page),
-- head the index's version now (a reload's base); the k pairs give the expiry (ms)
-- of the items that have one (1-based index into the n items; none are looked up while
-- no item of the index has an expiry).
-- Errors: PM_EMBEDDER (the index holds another embedder's vectors).
-- Cost: O(1) when current (HMGET, TIME); else an EXISTS, and O(log N + n) for the n items
-- sent (at most ARGV[3], in chunks of 1,000) plus the removed ids since the version. Read
-- only.
-- Flags: no-writes
local r, x, c, t = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local sig, have, base = ARGV[1], ARGV[2], ARGV[3]
local most, budget = tonumber(ARGV[4]), tonumber(ARGV[5])
local clock_ = redis.call('TIME')
local now = string.format('%d', clock_[1] * 1000 + math.floor(clock_[2] / 1000))
local st = redis.call('HMGET', r, 'g', 'f', 'm', 'k', 'b')
local g, f, m = st[1], st[2], st[3]
if not g then return {'0', now} end
if m ~= sig then
  return redis.error_reply('PM_EMBEDDER the index holds vectors of ' .. m)
end
if have == g then return {g, now} end
-- eviction took part of the index (the next write drops it): no index, rather than part
if not recall_whole(x, c, t, g, st[4]) then return {'0', now} end
-- the index the cache read may have been rebuilt since with lower versions (the server
-- clock stepped back, a failover): its creation stamp tells them apart
local ident = st[5] or ''
local reset = have == '' or tonumber(base) < tonumber(f) or ARGV[6] ~= ident
local since = '(' .. have
if reset then since = '-inf' end
local page = redis.call('ZRANGEBYSCORE', c, since, '+inf', 'WITHSCORES', 'LIMIT', 0, most)
local ids, items = {}, {}
local size, upto = 0, nil
for i = 1, #page, 2000 do
  local j = math.min(i + 1999, #page)
  local fields = {}
  for k = i, j, 2 do fields[#fields + 1] = 'i:' .. page[k] end
  local got = redis.call('HMGET', r, unpack(fields))
  for k = 1, #got do
    local n = #ids + 1
    if n > 1 and size + #got[k] > budget then break end
    size = size + #got[k]
    ids[n], items[n] = page[i + 2 * k - 2], got[k]
    upto = page[i + 2 * k - 1]
  end
  if #ids * 2 < j then break end  -- the byte budget ran out
end
local more = #ids > 0 and (#ids * 2 < #page or #page == most * 2)
if not more then upto = g end
local reply = {upto, now, reset and '1' or '0', more and '1' or '0', g, #ids, ident}
for i = 1, #ids do reply[#reply + 1] = ids[i] end
for i = 1, #ids do reply[#reply + 1] = items[i] end
local at = {}
local low = redis.call('ZRANGE', x, 0, 0, 'WITHSCORES')[2]
local timed = low and tonumber(low) < 4503599627370496
for i = 1, timed and #ids or 0, 1000 do
  local got = redis.call('ZMSCORE', x, unpack(ids, i, math.min(i + 999, #ids)))
  for j = 1, #got do at[i + j - 1] = got[j] end
end
local k = #reply + 1
reply[k] = 0
for i = 1, #ids do
  if at[i] and tonumber(at[i]) < 4503599627370496 then
    reply[#reply + 1] = i
    reply[#reply + 1] = at[i]
  end
end
reply[k] = (#reply - k) / 2
if not reset then
  local gone = redis.call('ZRANGEBYSCORE', t, '(' .. have, upto)
  for i = 1, #gone do reply[#reply + 1] = gone[i] end
end
return reply
