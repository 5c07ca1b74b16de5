-- Shared prelude. The registry prepends to each script the definitions below that it uses
-- (directly or through another definition), so keep one definition per blank-line-separated
-- block, each `local`: a global poisons every later script on fakeredis.
--
-- Scope layout (all keys of one scope share one hash tag):
--   H  hash  "d:<key>" -> payload
--            "m:<key>" -> meta "<type><expiry><version>"
--              type (1 char): "m" codec bytes, "i" integer text, "f" float text, "s" sealed
--                (encrypted on the client: opaque here, like "m")
--              expiry (16 digits, zero-padded): ms since the epoch (NOEXP: never)
--              version (digits): server-clock microseconds, strictly increasing per key
--            "e" -> when H and X expire (ms; NOEXP: never): X's highest score
--            "n" -> a lower bound of X's lowest score (ms): no entry has expired before it
--              (absent: unknown; see scope_settle)
--            "r" -> with change events, when the expiry of the scope's change log is next due
--              to be re-armed (ms; absent: unknown; see ev_scope_done)
--   X  zset  <key> -> expiry, the index that lists keys and finds expired ones
-- A key is live while its expiry is > now. H and X form a pair (pair_* below): every write
-- first removes the expired entries (pair_settle), and both keys expire exactly with their
-- last-expiring entry.

local NOEXP = 4503599627370496  -- 2^52 ms: "never"

-- the server clock, once per script: ms, us. (Arithmetic converts TIME's strings: cheaper
-- than tonumber() and math.floor(), same numbers.)
local function clock()
  local t = redis.call('TIME')
  local s, us = t[1] + 0, t[2] + 0
  return s * 1000 + (us - us % 1000) / 1000, s * 1000000 + us
end

-- the server clock for a read's expiry test: ms with the us as a fraction. An integer
-- expiry is > this exactly when it is > clock()'s ms (floor(t) < e <=> t < e), so a read
-- tests liveness as a write does, with less arithmetic.
local function scope_now()
  local t = redis.call('TIME')
  return t[1] * 1000 + t[2] / 1000
end

-- n as integer text. '%d' prints an integral n below 2^53 several times faster than '%.0f'
-- (which prints floats, and any n, the same way; -0 prints as "0")
local function fmt_int(n)
  if n % 1 == 0 and n > -9007199254740992 and n < 9007199254740992 then
    return string.format('%d', n)
  end
  return string.format('%.0f', n)
end

-- meta -> type, expiry (number), version (string)
local function parse_meta(meta)
  return string.sub(meta, 1, 1), tonumber(string.sub(meta, 2, 17)), string.sub(meta, 18)
end

-- (expiry and version are integers below 2^53: '%d' prints them as fmt_int would)
local function make_meta(vtype, expiry, version)
  return string.format('%s%016d%d', vtype, expiry, version)
end

-- the meta of a live key, or nil when it is absent or expired (`now`: clock()'s ms, or
-- scope_now())
local function live_meta(meta, now)
  if meta and string.sub(meta, 2, 17) + 0 > now then return meta end
  return nil
end

-- NOEXP as a meta holds it (16 digits): a key that never expires
local NOEXP_META = '4503599627370496'

-- (reads) whether the meta of a key that is there is live, and the clock (scope_now())
-- as `now` or, when a key with an expiry needed it first, as read here (a key without
-- expiry is live whatever the time: a read of such keys runs no TIME). Pass the `now`
-- it returns to the next call of the same script.
local function read_live(meta, now)
  local e = string.sub(meta, 2, 17)
  if e == NOEXP_META then return true, now end
  now = now or scope_now()
  return e + 0 > now, now
end

-- (history's thread index) a scope key must outlive the entries written with `expiry`;
-- `was` is the entry's previous expiry (nil: new) and `fresh` says the scope was empty
-- before this write
local function extend_scope(h, x, expiry, was, fresh)
  if was and was >= expiry then return end  -- the scope already outlives this entry
  if expiry >= NOEXP then
    redis.call('PERSIST', h)
    redis.call('PERSIST', x)
  elseif fresh then
    redis.call('PEXPIREAT', h, fmt_int(expiry))
    redis.call('PEXPIREAT', x, fmt_int(expiry))
  else
    -- GT: only later, and a key without expiry counts as later than any time
    redis.call('PEXPIREAT', h, fmt_int(expiry), 'GT')
    redis.call('PEXPIREAT', x, fmt_int(expiry), 'GT')
  end
end

-- (history's thread index) make the keys expire with their last-expiring entry (after
-- removals)
local function shrink_scope(h, x)
  local last = redis.call('ZRANGE', x, -1, -1, 'WITHSCORES')
  if #last == 0 then
    redis.call('DEL', h, x)
    return
  end
  local at = tonumber(last[2])
  if at >= NOEXP then
    redis.call('PERSIST', h)
    redis.call('PERSIST', x)
  else
    redis.call('PEXPIREAT', h, fmt_int(at))
    redis.call('PEXPIREAT', x, fmt_int(at))
  end
end

-- Pairs: a hash H holding entries' fields and a zset X indexing them (member -> when its
-- fields are dead, ms), as in a scope or a cache bucket. H's field "e" says when both keys
-- expire (PEXPIREAT; NOEXP: never), always X's highest score, so the pair lives exactly as
-- long as its last-expiring entry and is gone with it. Eviction (maxmemory) may remove one
-- key of the pair: the next write sees it (H without "e", or "e" with X empty) and repairs
-- the pair before anything else.

-- redis.call(cmd, key, items...) in chunks of 1000 items (unpack() fails beyond a few
-- thousand; 1000 is even, so field-value and score-member pairs stay whole). Returns the
-- elements of the replies that are arrays (HMGET), joined.
local function pair_call(cmd, key, items)
  local out = {}
  for i = 1, #items, 1000 do
    local r = redis.call(cmd, key, unpack(items, i, math.min(i + 999, #items)))
    if type(r) == 'table' then
      for j = 1, #r do out[#out + 1] = r[j] end
    end
  end
  return out
end

-- The first write of a call that a server at maxmemory (noeviction) must refuse, before
-- writes it never refuses (HDEL, ZREM*, DEL, PEXPIREAT, PERSIST). Redis refuses a script's
-- memory-growing commands (HSET, ZADD, ...) only until the script has run any write, so a
-- purge or repair first would let the rest through. This sets H's field "e" (`e`, the text
-- read; nil: absent) or else X's first member (`first`, ZRANGE 0 0 WITHSCORES) to what it
-- holds: refused at maxmemory, otherwise it changes nothing. One call.
local function pair_guard(h, x, e, first)
  if e then
    redis.call('HSET', h, 'e', e)
  else
    redis.call('ZADD', x, 'XX', first[2], first[1])
  end
end

-- Before a write to pair (H, X): `e` is H's field "e" as the script read it (nil: absent).
-- Repairs a pair that lost a key (`rebuild(h, x, now, want)` rebuilds it or drops it, and
-- returns its expiry), then removes the expired entries: their fields `prefixes[i] ..
-- member` and their members. With `guard` (a write that maxmemory must refuse whole; not
-- deletes, which free memory), a repair or purge starts with pair_guard. Returns the pair's
-- expiry (a number > now), or nil when the pair is empty (then neither key exists), X's
-- lowest score when nothing expired (a repair returns what `rebuild` returns; nil after a
-- purge), and the members purged (nil when none; with `want` even when every entry had
-- expired, which then costs one more ZRANGE: for the change log).
-- Cost: one ZRANGE when nothing expired; O(E) for E expired entries (pair_guard included);
-- a repair O(N).
local function pair_settle(h, x, e, now, prefixes, rebuild, guard, want)
  local first = redis.call('ZRANGE', x, 0, 0, 'WITHSCORES')
  if not e or #first == 0 then
    if e or #first > 0 then
      if guard then pair_guard(h, x, e, first) end
      return rebuild(h, x, now, want)
    end
    return nil
  end
  local at = e + 0
  local low = first[2] + 0
  if low > now then return at, low end
  if guard then pair_guard(h, x, e, first) end
  if at <= now then  -- every entry has expired (the keys expire this very ms)
    local dead = nil
    if want then dead = redis.call('ZRANGE', x, 0, -1) end
    redis.call('DEL', h, x)
    return nil, nil, dead
  end
  local stamp = fmt_int(now)
  local dead = redis.call('ZRANGEBYSCORE', x, '-inf', stamp)
  local fields = {}
  for i = 1, #dead do
    for j = 1, #prefixes do fields[#fields + 1] = prefixes[j] .. dead[i] end
  end
  pair_call('HDEL', h, fields)
  redis.call('ZREMRANGEBYSCORE', x, '-inf', stamp)
  return at, nil, dead
end

-- The pair's expiry after a write: `e` from pair_settle (nil: the pair was empty), `hi` the
-- highest score the write gave (nil: none), `lowered` whether it lowered or removed a score
-- that may have been e. Reads X's highest score only then. nil: X is empty.
local function pair_target(x, e, hi, lowered)
  if not e then return hi end
  if lowered then
    local last = redis.call('ZRANGE', x, -1, -1, 'WITHSCORES')
    if #last == 0 then return nil end
    return tonumber(last[2])
  end
  if hi and hi > e then return hi end
  return e
end

-- Make both keys of the pair expire at `target` (from pair_target; nil: delete them) when
-- it differs from `e`, their expiry now. The caller writes target to H's field "e" with
-- its own HSET, before this, unless `set_field`. Cost: 0 calls when unchanged, else 2-3.
local function pair_expire(h, x, e, target, set_field)
  if not target then
    redis.call('DEL', h, x)
    return
  end
  if target == e then return end
  if set_field then redis.call('HSET', h, 'e', fmt_int(target)) end
  if target < NOEXP then
    redis.call('PEXPIREAT', h, fmt_int(target))
    redis.call('PEXPIREAT', x, fmt_int(target))
  elseif e then  -- keys created by this write have no expiry yet
    redis.call('PERSIST', h)
    redis.call('PERSIST', x)
  end
end

-- every entry of a scope's H, from its meta fields: keys and expiries. O(N), read only.
local function scope_scan(h)
  local keys, expiries, cursor = {}, {}, '0'
  repeat
    local r = redis.call('HSCAN', h, cursor, 'MATCH', 'm:*', 'COUNT', 1000)
    cursor = tostring(r[1])
    local page = r[2]
    for i = 1, #page, 2 do
      keys[#keys + 1] = string.sub(page[i], 3)
      expiries[#expiries + 1] = tonumber(string.sub(page[i + 1], 2, 17))
    end
  until cursor == '0'
  return keys, expiries
end

-- Repair a scope that lost H or X (pair_settle): rebuild X from H's live entries, remove
-- the expired ones, and set the pair's expiry. Returns it, the lowest expiry (nil, nil:
-- nothing was live, both keys are gone) and the keys of the expired entries removed. O(N).
local function scope_rebuild(h, x, now)
  redis.call('DEL', x)
  local keys, expiries = scope_scan(h)
  local live, dead, gone, hi, lo = {}, {}, {}, nil, nil
  for i = 1, #keys do
    if expiries[i] > now then
      live[#live + 1] = fmt_int(expiries[i])
      live[#live + 1] = keys[i]
      if not hi or expiries[i] > hi then hi = expiries[i] end
      if not lo or expiries[i] < lo then lo = expiries[i] end
    else
      dead[#dead + 1] = 'd:' .. keys[i]
      dead[#dead + 1] = 'm:' .. keys[i]
      gone[#gone + 1] = keys[i]
    end
  end
  if not hi then
    redis.call('DEL', h)
    return nil, nil, gone
  end
  pair_call('HDEL', h, dead)
  pair_call('ZADD', x, live)
  redis.call('HSET', h, 'e', fmt_int(hi))
  if hi < NOEXP then
    redis.call('PEXPIREAT', h, fmt_int(hi))
    redis.call('PEXPIREAT', x, fmt_int(hi))
  else
    redis.call('PERSIST', h)
  end
  return hi, lo, gone
end

-- the fields a scope entry has in H (for pair_settle)
local SCOPE_FIELDS = {'d:', 'm:'}

-- pair_settle for a scope, using H's field "n" (`n`, the text read; nil: unknown), a lower
-- bound of X's lowest score. While now < n no entry has expired, so all that is left to
-- check is that X is there (EXISTS: eviction may have taken it), far cheaper than the
-- ZRANGE; otherwise pair_settle. Returns the pair's expiry, as pair_settle, a lower bound
-- of X's lowest score after it (nil: the pair is empty, or after a purge by a delete:
-- without `guard`; a write reads X's new lowest score then), and the keys purged (as
-- pair_settle, with `want`). Every write that gives an entry an expiry below the bound
-- lowers "n" with it (scope_hset), so the bound holds for every entry this library wrote.
-- Cost: one EXISTS while now < n; else as pair_settle, plus one ZRANGE after a write's
-- purge.
local function scope_settle(h, x, e, n, now, guard, want)
  if e and n and now < n + 0 and redis.call('EXISTS', x) == 1 then return e + 0, n + 0 end
  local at, low, dead = pair_settle(h, x, e, now, SCOPE_FIELDS, scope_rebuild, guard, want)
  if at and not low and guard then
    local first = redis.call('ZRANGE', x, 0, 0, 'WITHSCORES')
    if #first > 0 then low = first[2] + 0 end
  end
  return at, low, dead
end

-- A scope write's HSET of its fields `...`, with H's fields "e" and "n" when they change:
-- "e" when the pair's expiry moves from `e` to `target`, "n" when the bound (`low` from
-- scope_settle, lowered to `expiry`, the expiry the write gives) differs from the text
-- `n` read (nil: absent). One call.
local function scope_hset(h, e, target, n, low, expiry, ...)
  if not low or expiry < low then low = expiry end
  local set_n = not n or low ~= n + 0
  if target ~= e then
    if set_n then
      return redis.call('HSET', h, 'e', fmt_int(target), 'n', fmt_int(low), ...)
    end
    return redis.call('HSET', h, 'e', fmt_int(target), ...)
  end
  if set_n then return redis.call('HSET', h, 'n', fmt_int(low), ...) end
  return redis.call('HSET', h, ...)
end

-- expiry for a write: keep = '1' keeps a live key's expiry; else ttl_ms > 0 sets one
local function write_expiry(now, ttl_ms, keep, current)
  if keep == '1' and current then return current end
  if ttl_ms > 0 then return now + ttl_ms end
  return NOEXP
end

-- The meta of a write of an entry whose stored meta is `old` (nil: absent), and the
-- entry's expiry before the write when it was `live` (else nil). The version is the server
-- clock, strictly after the previous version.
local function scope_meta(vtype, expiry, now_us, old, live)
  if not old then return make_meta(vtype, expiry, now_us), nil end
  local version = string.sub(old, 18) + 0
  if version < now_us then version = now_us else version = version + 1 end
  local meta = make_meta(vtype, expiry, version)
  if live then return meta, string.sub(old, 2, 17) + 0 end
  return meta, nil
end

-- an error reply when adding `extra` keys would pass the cap. Called before pair_settle, so
-- that a refused write writes nothing: counts the live entries of X (those expiring after
-- `now`) without purging the expired ones. One ZCOUNT.
local function scope_full(x, now, extra, max_keys)
  local n = redis.call('ZCOUNT', x, '(' .. fmt_int(now), '+inf')
  if n + extra > max_keys then
    return redis.error_reply('PM_FULL scope holds its maximum of ' .. max_keys .. ' keys')
  end
  return nil
end

-- Cache layout (lua/cache_*.lua). A cache's entries are spread over buckets, each kept like a
-- scope under one hash tag (so in one cluster slot),
-- P = "<namespace>:{<tenant>:cache:<name>:<scope>:<bucket>}:":
--   P.."h"  hash  "d:<key>" -> payload
--                 "m:<key>" -> meta "<type> <expiry> <keep> <compute> <token>": fresh until
--                   expiry, served stale until keep (ms since the epoch), compute time (ms),
--                   and the fencing token of the write that stored it
--                 "l:<key>" -> lease "<ends> <token> <waiters> <attempt>": held until ends
--                   (ms) by the holder of token, with the number of callers waiting for its
--                   value; attempt is the id the holder's fetch sent (so that the same fetch
--                   sent again gets the same lease)
--                 "e" -> when h and x expire (a pair: see pair_settle)
--                 "b" -> the cache's bucket count, which every handle must share
--                 "r" -> with change events, when the bucket's change log is next due for a
--                   re-arm of its expiry (see ev_scope_done)
--   P.."x"  zset  key -> when the entry's last field expires (the later of keep and the
--                 lease's end): the bucket's index, capped
--   P.."w:"..key  list  wake-ups for the entry's waiters, one element each (TTL CACHE_WAKE_MS)
-- Fields expire in the scripts, by the server clock; every write first drops the bucket's
-- dead entries (pair_settle), and h and x expire exactly with their last entry. A bucket
-- that lost h or x (eviction) is dropped whole by the next write: it is a cache. Scripts
-- touch only keys given in KEYS: the index names entries, never keys, so clear and eviction
-- work on fields of the bucket hash.
local CACHE_WAKE_MS = 10000

-- the fields a cache entry has in its bucket hash (for pair_settle)
local CACHE_FIELDS = {'d:', 'm:', 'l:'}

-- a bucket that lost h or x: drop it (pair_settle's rebuild)
local function cache_drop(h, x)
  redis.call('DEL', h, x)
  return nil
end

-- an error reply when bucket field "b" (`b`, nil when absent) is not this handle's bucket
-- count (ARGV text `n`)
local function cache_buckets(b, n)
  if b and b ~= n then
    return redis.error_reply('PM_CONFIG this cache has ' .. b .. ' buckets; this handle was ' ..
      'opened with ' .. n .. ': open every handle on it with the same buckets=')
  end
  return nil
end

-- a meta's expiry (ms, a number), for a read that needs nothing else of it
local function cache_expiry(meta)
  return string.sub(meta, 3, string.find(meta, ' ', 3, true) - 1) + 0
end

-- a meta's expiry, keep and compute (ms, numbers), for a read that needs no more of it
local function cache_times(meta)
  local expiry, keep, compute = string.match(meta, '^%a (%d+) (%d+) (%d+)')
  return expiry + 0, keep + 0, compute + 0
end

-- meta -> type, expiry, keep, compute (ms), token (numbers); nothing when absent
local function cache_meta(meta)
  if not meta then return nil end
  local vtype, expiry, keep, compute, token =
    string.match(meta, '^(%a) (%d+) (%d+) (%d+) (%d+)$')
  return vtype, tonumber(expiry), tonumber(keep), tonumber(compute), tonumber(token)
end

local function cache_make_meta(vtype, expiry, keep, compute, token)
  return vtype .. ' ' .. fmt_int(expiry) .. ' ' .. fmt_int(keep) .. ' '
    .. fmt_int(compute) .. ' ' .. token
end

-- lease -> ends (ms), token (string), waiters, attempt (string; "" in a lease written
-- without one); nothing when absent
local function cache_lease(lease)
  if not lease then return nil end
  local ends, token, waiters, attempt = string.match(lease, '^(%d+) (%d+) (%d+) ?(%x*)$')
  return tonumber(ends), token, tonumber(waiters), attempt
end

-- an entry's index score from its keep (nil: no value) and lease end (nil: no lease): the
-- later; nil when both are past `now` (the entry is dead, or gone)
local function cache_score(keep, ends, now)
  local s = keep
  if ends and (not s or ends > s) then s = ends end
  if s and s > now then return s end
  return nil
end

-- a fencing token above the entry's last ones (its value's and its lease's): the server
-- clock in us, or the last + 1
local function cache_fence(now_us, value_token, lease_token)
  local token = now_us
  if value_token and value_token >= token then token = value_token + 1 end
  local leased = tonumber(lease_token)
  if leased and leased >= token then token = leased + 1 end
  return fmt_int(token)
end

-- wake the callers waiting on wake list w: one element each, at most 1000
local function cache_wake(w, waiters)
  if not waiters or waiters < 1 then return end
  if waiters > 1000 then waiters = 1000 end
  local ones = {}
  for j = 1, waiters do ones[j] = '1' end
  redis.call('RPUSH', w, unpack(ones))
  redis.call('PEXPIRE', w, CACHE_WAKE_MS)
end

-- Before a new entry joins a bucket (after pair_settle, whose expiry is `e`): evict the
-- entries that expire soonest until one more fits under `cap` (their waiters, whose wake
-- lists this script was not given, ask again when their wait slice ends), after a write
-- that maxmemory refuses (H's field "e" set to itself: see pair_guard). Returns whether
-- it evicted any, and the keys it evicted. Cost: O(log M) when there is room, else O(E)
-- for E evicted, M <= cap.
local function cache_room(h, x, e, cap)
  if not e then return false end
  local n = redis.call('ZCARD', x)
  if n < cap then return false end
  redis.call('HSET', h, 'e', fmt_int(e))
  local evicted = redis.call('ZRANGE', x, 0, n - cap)
  local fields = {}
  for j = 1, #evicted do
    fields[#fields + 1] = 'd:' .. evicted[j]
    fields[#fields + 1] = 'm:' .. evicted[j]
    fields[#fields + 1] = 'l:' .. evicted[j]
  end
  pair_call('HDEL', h, fields)
  redis.call('ZREMRANGEBYRANK', x, 0, n - cap)
  return true, evicted
end

-- History layout: a thread lives under its scope's hash tag.
--   L   list  its turns, oldest first, each a fixed binary header, then the body (codec
--             bytes, opaque to the scripts). The header is the start of a msgpack array of 4:
--             0x94, 0xcf <created ms: 8 bytes, big-endian>, 0xcf <tokens: 8 bytes>, then the
--             message id as a msgpack str: 0xd9 <1-byte length> or 0xda <2-byte length>, then
--             the UTF-8 id. With msgpack bodies a whole entry is one msgpack value, which
--             lets the client decode a read's entries in one call.
--   I   hash  message id -> "1" (the ids the thread holds); field "" -> its totals,
--             "<tokens> <bytes>" (bytes: the entries' lengths)
--   TA  zset  (one per scope) thread id -> last write (ms)
--   TX  zset  (one per scope) thread id -> expiry (ms; NOEXP: never)
-- L and I expire together at the thread's TX score; TA and TX outlive their last entry.
-- Any of these keys may be evicted (allkeys-lru) on its own: the next write to the thread
-- rebuilds I from L (thread_totals), drops an I whose L is gone, and sets every expiry again
-- (thread_written). A thread is live while its TX score is after now; reads never write
-- (a sliding read reports a re-arm due, and the client sends history_touch).

-- a turn entry -> its message id (header bytes 20.., see the layout above)
local function turn_id(entry)
  local kind, a, b = string.byte(entry, 20, 22)
  if kind == 0xd9 then return string.sub(entry, 22, 21 + a) end
  return string.sub(entry, 23, 22 + a * 256 + b)
end

-- whether a turn entry's body is sealed (a msgpack bin: encrypted on the client, bound to
-- its thread, so only the client can copy it to another)
local function turn_sealed(entry)
  local kind, a, b = string.byte(entry, 20, 22)
  local at = kind == 0xd9 and 22 + a or 23 + a * 256 + b
  local c = string.byte(entry, at)
  return c == 0xc4 or c == 0xc5 or c == 0xc6
end

-- a turn entry -> its token count (header bytes 12..19)
local function turn_tokens(entry)
  local a, b, c, d, e, f, g, h = string.byte(entry, 12, 19)
  return ((((((a * 256 + b) * 256 + c) * 256 + d) * 256 + e) * 256 + f) * 256 + g) * 256 + h
end

-- redis.call(cmd, key, items...) in chunks: unpack() fails beyond a few thousand values
local function call_chunked(cmd, key, items)
  for i = 1, #items, 1000 do
    redis.call(cmd, key, unpack(items, i, math.min(i + 999, #items)))
  end
end

-- The longest run of most recent turns of list `l` within `last` turns and `budget` tokens
-- (each 0: no limit), oldest first (history_messages, and the read of history_append).
-- O(R + 32) for R turns returned, whatever the thread's length: without a budget one
-- LRANGE; with one, a walk back from the newest turn in growing chunks (the first holds
-- `last` turns, up to 32), never past the `last` newest turns. The writes cap a thread's
-- bytes, so R is too.
local function thread_tail(l, last, budget)
  if budget == 0 then
    if last == 0 then return redis.call('LRANGE', l, 0, -1) end
    return redis.call('LRANGE', l, -last, -1)
  end
  if last == 0 then last = -1 end  -- no limit: n never equals it
  -- of each chunk read, its newest k[c] turns fit
  local parts, k, n, used, got = {}, {}, 0, 0, 0
  local chunk = 32
  if last > 0 and last < chunk then chunk = last end
  local done = false
  while not done do
    local part = redis.call('LRANGE', l, -(got + chunk), -(got + 1))
    local fit = 0
    for i = #part, 1, -1 do
      local t = turn_tokens(part[i])
      if used + t > budget then
        done = true
        break
      end
      used, fit, n = used + t, fit + 1, n + 1
      if n == last then
        done = true
        break
      end
    end
    parts[#parts + 1], k[#k + 1] = part, fit
    got = got + #part
    if #part < chunk then done = true end
    if chunk < 1024 then chunk = chunk * 2 end
    if last > 0 and chunk > last - n then chunk = last - n end  -- no more than asked
  end
  if #parts == 1 and k[1] == #parts[1] then
    return parts[1]  -- the usual case: the first chunk read is the answer
  end
  local entries = {}
  for c = #parts, 1, -1 do
    local part = parts[c]
    for i = #part - k[c] + 1, #part do entries[#entries + 1] = part[i] end
  end
  return entries
end

-- Before a write to a thread: its live expiry (nil when new or expired) and whether the
-- index was empty, or an error reply when a new thread would pass the scope's cap; then
-- the ids of the expired threads purged (nil: none). A new thread first purges expired
-- threads from the index: O(E), E <= the cap.
local function thread_room(ta, tx, tid, now, max_threads)
  local was = tonumber(redis.call('ZSCORE', tx, tid))
  if was and was > now then return was, false, nil end
  local dead = redis.call('ZRANGEBYSCORE', tx, '-inf', fmt_int(now))
  if #dead > 0 then
    call_chunked('ZREM', ta, dead)
    redis.call('ZREMRANGEBYSCORE', tx, '-inf', fmt_int(now))
    shrink_scope(ta, tx)
  end
  local n = redis.call('ZCARD', tx)
  if n >= max_threads then
    return nil, false, redis.error_reply('PM_FULL the scope holds its maximum of ' ..
      max_threads .. ' threads')
  end
  return nil, n == 0, nil, dead
end

-- a thread's totals as stored in I's field "" -> tokens, bytes (nothing when absent or
-- unreadable: then I is rebuilt)
local function thread_parse_totals(text)
  if not text then return nil end
  local tokens, bytes = string.match(text, '^(%d+) (%d+)$')
  return tonumber(tokens), tonumber(bytes)
end

-- I's field "" for these totals
local function thread_fmt_totals(tokens, bytes)
  return fmt_int(tokens) .. ' ' .. fmt_int(bytes)
end

-- Rebuild I (evicted while L survived) from L: its ids and totals. Returns the totals and
-- the set of ids. O(N) for the N turns of L, which the writes cap (turns and bytes).
local function thread_rebuild(l, i)
  local entries = redis.call('LRANGE', l, 0, -1)
  local fields, seen, tokens, bytes = {}, {}, 0, 0
  for j = 1, #entries do
    local e = entries[j]
    local id = turn_id(e)
    seen[id] = true
    fields[2 * j - 1], fields[2 * j] = id, '1'
    tokens, bytes = tokens + turn_tokens(e), bytes + #e
  end
  redis.call('DEL', i)
  call_chunked('HSET', i, fields)
  redis.call('HSET', i, '', thread_fmt_totals(tokens, bytes))
  return tokens, bytes, seen
end

-- Set a thread's expiry (ttl_ms > 0: now + ttl_ms, else never) on L and I and in the
-- index, which then outlives it, and no longer than its last-expiring thread: an expiry
-- moved earlier (a shorter ttl, or one given to a thread that had none) brings the index's
-- down to TX's highest (shrink_scope). `was` is the thread's live expiry (nil: none) and
-- `fresh` says the index was empty. Returns the expiry.
local function touch_thread(l, i, ta, tx, tid, now, ttl_ms, was, fresh)
  local expiry = NOEXP
  if ttl_ms > 0 then
    expiry = now + ttl_ms
    redis.call('PEXPIREAT', l, fmt_int(expiry))
    redis.call('PEXPIREAT', i, fmt_int(expiry))
  else
    redis.call('PERSIST', l)
    redis.call('PERSIST', i)
  end
  redis.call('ZADD', tx, fmt_int(expiry), tid)
  if was and was > expiry then
    shrink_scope(ta, tx)
  else
    extend_scope(ta, tx, expiry, was, fresh)
  end
  return expiry
end

-- A sliding expiry is re-armed (to now + ttl) only once it has run down by more than
-- 1/REARM_SLACK of the ttl, so that most appends and reads skip those writes: a thread
-- expires between 99% and 100% of its ttl after its last use.
local REARM_SLACK = 100

-- whether a thread expiring at `was` (nil: not listed; NOEXP: never; any clock, the one of
-- `now`) must get the expiry `ttl_ms` asks for (0: never) set anew
local function must_rearm(was, now, ttl_ms)
  if ttl_ms == 0 then return was ~= NOEXP end
  if not was or was > now + ttl_ms then return true end
  return was <= now + ttl_ms - math.floor(ttl_ms / REARM_SLACK)
end

-- After a write to a thread: list it in TA as written `now`, and set every expiry its data
-- implies, whatever was evicted. `was`: the thread's live expiry in TX (nil: none);
-- `fresh`: TX was empty; `keys_new`: L or I was (re)created by this write, so it has no
-- expiry yet. PEXPIREAT ... GT leaves a key without expiry alone, so when TA gained an entry
-- or TX one (either may have been (re)created) both get the index's expiry from TX anew.
local function thread_written(l, i, ta, tx, tid, now, ttl_ms, was, fresh, keys_new)
  local added = redis.call('ZADD', ta, fmt_int(now), tid)
  if keys_new or must_rearm(was, now, ttl_ms) then
    touch_thread(l, i, ta, tx, tid, now, ttl_ms, was, fresh)
  end
  if (added == 1 or not was) and not fresh then shrink_scope(ta, tx) end
end

-- (history_append) the entries to push of the messages in argv[11..last] (triples: id,
-- tokens, entry after its first 10 bytes) whose ids are neither known (known[k]: the k-th
-- message's) nor earlier in the call, each entry after `stamp`: one flag per message ("1"
-- pushed, "0" skipped), the entries, I's fields for them, their tokens and bytes. (Defined
-- here, once, rather than as a closure that every append would build.)
local function turn_plan(argv, last, stamp, known)
  local flags, pushed, fields, seen, added, size = {}, {}, {}, {}, 0, 0
  for i = 11, last, 3 do
    local id = argv[i]
    if known[(i - 5) / 3] or seen[id] then
      flags[#flags + 1] = '0'
    else
      seen[id] = true
      local entry = stamp .. argv[i + 2]
      local n = #pushed + 1
      pushed[n], fields[2 * n - 1], fields[2 * n] = entry, id, '1'
      added, size = added + tonumber(argv[i + 1]), size + #entry
      flags[#flags + 1] = '1'
    end
  end
  return flags, pushed, fields, added, size
end

-- the first 10 bytes of a turn entry created at `ms` (see the history layout); the client
-- sends the rest
local function turn_stamp(ms)
  local hi, lo = math.floor(ms / 4294967296), ms % 4294967296  -- hi < 2^21
  return string.char(148, 207, 0, math.floor(hi / 65536), math.floor(hi / 256) % 256, hi % 256,
    math.floor(lo / 16777216), math.floor(lo / 65536) % 256, math.floor(lo / 256) % 256, lo % 256)
end

-- Change events (the entry format: pyredmem/_ops/events.py). A write that logs them gets
-- its scope's (or cache bucket's) log as its last KEY, `log` (nil: the call logs nothing,
-- and runs none of these), and as its last three ARGV the log's cap (entries, trimmed
-- approximately), its retention (ms) and "1" to log values. A script logs after its own
-- writes (its first write stays the one a server at maxmemory refuses), only what it
-- changed, then re-arms the log's retention once (ev_done, or ev_scope_done). `argv` is
-- the script's ARGV.

-- one event: `...` its fields, flat, in the format's order (o, w, k, v, m, f, y, p).
-- Returns true when the log was absent (this created it, without an expiry yet). Cost: one
-- XADD (NOMKSTREAM: it says whether the log was there), a second one when it was not.
local function ev_add(log, argv, ...)
  local cap = argv[#argv - 2]
  if redis.call('XADD', log, 'NOMKSTREAM', 'MAXLEN', '~', cap, '*', ...) then return false end
  redis.call('XADD', log, 'MAXLEN', '~', cap, '*', ...)
  return true
end

-- after a call's events: the log expires its retention after them
local function ev_done(log, argv)
  redis.call('PEXPIRE', log, argv[#argv - 1])
end

-- ev_done for a write that leaves its scope's (or cache bucket's) H in place (set,
-- set_many, incr, update; a cache's set and fill), re-arming the log's retention only when
-- due, as a thread's expiry is: H's field "r" (`due`, the text read; nil: unknown) says
-- when the last re-arm will have run down by 1/REARM_SLACK of the retention (ms). Until
-- then, unless `created` (ev_add's reply) says the log was just made, a write adds only its
-- XADD: the log expires between 99% and 100% of the retention after its last event.
-- Cost: 0 calls, or PEXPIREAT and HSET.
local function ev_scope_done(h, log, argv, due, now, created)
  if due and not created and due + 0 > now then return end
  local ttl = argv[#argv - 1] + 0
  redis.call('PEXPIREAT', log, fmt_int(now + ttl))
  redis.call('HSET', h, 'r', fmt_int(now + math.floor(ttl / REARM_SLACK)))
end

-- whether the events carry values
local function ev_values(argv)
  return argv[#argv] == '1'
end

-- an "expire" event about each of `gone` (keys purged or evicted, nil: none), which are
-- `what` ("v" values, "c" cache entries, "t" threads). Returns how many it logged, and
-- whether the first created the log.
local function ev_expired(log, argv, what, gone)
  if not gone or #gone == 0 then return 0, false end
  local created = ev_add(log, argv, 'o', 'expire', 'w', what, 'k', gone[1])
  for i = 2, #gone do ev_add(log, argv, 'o', 'expire', 'w', what, 'k', gone[i]) end
  return #gone, created
end

-- the event of a write of a value (`what` "v") or cache entry ("c") under `key`: `op`, the
-- value's version (nil: none) and, when the events carry values, its type and payload (nil:
-- none, as for a delete). Returns ev_add's reply.
local function ev_write(log, argv, op, what, key, version, vtype, payload)
  if vtype and argv[#argv] == '1' then
    if version then
      return ev_add(log, argv, 'o', op, 'w', what, 'k', key, 'v', version, 'y', vtype, 'p',
        payload)
    end
    return ev_add(log, argv, 'o', op, 'w', what, 'k', key, 'y', vtype, 'p', payload)
  elseif version then
    return ev_add(log, argv, 'o', op, 'w', what, 'k', key, 'v', version)
  end
  return ev_add(log, argv, 'o', op, 'w', what, 'k', key)
end

-- Rate limits (lua/limiter_*.lua). Times are whole us of the server clock; fixed and sliding
-- amounts are whole millionths of a unit (the caller rounds costs up and limits down), so
-- every sum is an integer below 2^53 and exact. One subject's key:
--   gcra     string  its theoretical arrival time (TAT, us)
--   fixed    hash    window index -> amount used in that window (only the current one
--                    counts; the first hit of a window drops the others)
--   sliding  list    its log (see rl_entry)
-- A write that sets a TTL sets the caller's `px` (ms): one period (the burst's for gcra) plus
-- 1 ms, so a key outlives the state it holds however the server's ms clock falls.
-- The clock is TIME's two parts, t[1] * 1000000 + t[2] us. Each command, number formatted
-- and helper called costs a script more than its arithmetic: the hits use as few as they can,
-- and format whole numbers with string.format('%d') (exact below 2^63, and cheaper than
-- '%.0f'). A gcra TAT is stored as an integer, which Redis keeps in the value's pointer: a
-- small key. limiter_hit_gcra writes out the rule of rl_gcra rather than call it: a prelude
-- helper costs each call its closure.
-- At maxmemory with noeviction, Redis refuses a script's SET, HINCRBY or RPUSH only while the
-- script has written nothing: after any write (even a DEL, HDEL, LTRIM or PEXPIRE, which it
-- never refuses) the script's later writes go through. So a hit's first write is always one
-- Redis refuses, the amount it spends (SET, HINCRBY, RPUSH), and what has expired is dropped
-- after it; a call that spends nothing but drops expired log entries first pushes one it
-- drops with them (rl_sliding_drop). Refused, a call has written nothing.
local RL_WRAP = 4503599627370496  -- 2^52: above any live sum (limits are <= 1e15 millionths)

local RL_MAX_LOG = 100000  -- live entries of one sliding log

-- gcra: a hit pushes the TAT `inc` us later (from now when the TAT is past, or absent: nil)
-- and is allowed when the new TAT is at most `tau1` us ahead of now. Returns allowed and the
-- TAT's lead over now before and after the hit.
local function rl_gcra(tat, now, inc, tau1)
  if not tat or tat < now then tat = now end
  local lead = tat - now + inc
  return lead <= tau1, tat - now, lead
end

-- fixed: the first hit of a window (its amount already counted in the window's field, by
-- the HINCRBY that is the call's first write) drops the fields `old` of earlier windows and
-- sets the key's TTL: once per window, so between hits the hash holds one window
local function rl_fixed_start(key, old, px)
  if old[1] then redis.call('HDEL', key, unpack(old)) end
  redis.call('PEXPIRE', key, px)
end

-- sliding: list `log` holds the admitted hits, oldest first, each "<time>:<total>:<cost>":
-- its time (us) and the running total of the costs logged up to and including it (mod
-- RL_WRAP). An entry is live while its time is after now - period, so the live sum is the
-- newest entry's total minus the oldest live entry's total before it: both ends of the list
-- tell what a hit needs.
local function rl_entry(e)
  local time, total, cost = string.match(e, '^(%d+):(%d+):(%d+)$')
  return time + 0, total + 0, cost + 0  -- arithmetic on the text: cheaper than tonumber
end

-- sliding, denied: us until enough of the oldest live entries (at indexes base .. base +
-- n - 1, the first with running total t0 before it) have left the window for their costs to
-- reach `over`. Running totals grow with the index, so the entry is found by bisection after
-- a first guess that assumes every entry cost `c0`, what the oldest did: O(log N) LINDEX
-- calls (each O(N / 128) at most: the list's nodes), one when the guess holds.
local function rl_sliding_wait(log, base, n, t0, c0, over, now, period)
  local lo, hi = 0, n - 1
  local r = math.ceil(over / c0) - 1
  while true do
    if r < lo then r = lo elseif r > hi then r = hi end
    local time, total, cost = rl_entry(redis.call('LINDEX', log, base + r))
    if (total - t0) % RL_WRAP < over then
      lo = r + 1  -- the entries up to this one free too little
    elseif r > lo and (total - cost - t0) % RL_WRAP >= over then
      hi = r - 1  -- those before it free enough
    else
      return time + period - now
    end
    r = math.floor((lo + hi) / 2)
  end
end

-- sliding: the live part of `log` at `now`, read only: O(E) for the E entries that left the
-- window, which a hit then drops (rl_log, rl_sliding_drop; a peek leaves them), so each is
-- read once. Returns the live sum (nil when no entry is live), the number of entries that
-- left (the index of the oldest live one), the oldest entry, the running total before the
-- oldest live one, its cost and time, the running total after the newest entry and us
-- until that entry leaves the window.
local function rl_sliding_live(log, now, period)
  local first = redis.call('LINDEX', log, 0)
  if not first then return nil, 0 end
  local edge, base, live = now - period, 0, first
  local time, t0, c0 = rl_entry(first)
  while time <= edge do  -- the oldest entries have left the window: skip them 64 at a time
    local chunk = redis.call('LRANGE', log, base, base + 63)
    local k = 1
    while chunk[k] and rl_entry(chunk[k]) <= edge do k = k + 1 end
    if chunk[k] then
      live = chunk[k]
      time, t0, c0 = rl_entry(live)
    elseif #chunk < 64 then  -- every entry has left
      return nil, base + #chunk, first
    end
    base = base + k - 1
  end
  local last, tn = time, t0
  local newest = redis.call('LINDEX', log, -1)
  if newest ~= live then last, tn = rl_entry(newest) end
  return (tn - t0 + c0) % RL_WRAP, base, first, t0 - c0, c0, time, tn, last + period - now
end

-- sliding: drop the `gone` entries at the front of `log` that left the window, in a call
-- that logs nothing. Given the oldest entry `first`, it pushes a copy of it to the front
-- and drops it with them: a write Redis refuses at maxmemory, for a call whose first write
-- this is (pass nil after a call's first write).
local function rl_sliding_drop(log, gone, first)
  if first then
    redis.call('LPUSH', log, first)
    gone = gone + 1
  end
  redis.call('LTRIM', log, gone, -1)
end

-- sliding, read only: allowed (the live sum plus `cost` fits `limit`, and the log has
-- room), the live sum, the wait (us) when denied, the running total after the newest entry,
-- us until it leaves the window, and the number of entries that left and the oldest entry
-- (see rl_sliding_live).
local function rl_sliding(log, now, cost, limit, period)
  local sum, gone, first, t0, c0, _, tn, reset = rl_sliding_live(log, now, period)
  if not sum then return true, 0, 0, 0, 0, gone, first end
  local n = redis.call('LLEN', log) - gone
  local over = sum + cost - limit
  if over <= 0 and n < RL_MAX_LOG then return true, sum, 0, tn, reset, gone, first end
  if over < 1 then over = 1 end  -- a full log: wait for its oldest entry to leave
  local wait = rl_sliding_wait(log, gone, n, t0, c0, over, now, period)
  return false, sum, wait, tn, reset, gone, first
end

-- sliding: log an admitted hit of `cost` (text) at `now` after the running total `total`,
-- first (a write Redis refuses at maxmemory), then drop the `gone` entries at the front that
-- left the window; the log expires `px` ms later. Returns the log's length.
local function rl_log(log, now, total, cost, px, gone)
  local n = redis.call('RPUSH', log, string.format('%d:%d:%s', now, (total + cost) % RL_WRAP, cost))
  if gone > 0 then redis.call('LTRIM', log, gone, -1) end
  redis.call('PEXPIRE', log, px)
  return n - gone
end

-- Facts layout (lua/facts_*.lua): a scope's bi-temporal claims (subject, predicate, object)
-- live in two keys under its hash tag. A version is one claim as recorded: valid over the
-- world times [vf, vt), believed from its recording time rf until it is superseded (rt).
-- Versions never change but for their end, and go only with the whole store.
--   F  hash  "c" -> versions held, which is also the last version id given  "x" -> "1"
--              while the keys have a time to live  "r" -> with change events, when the
--              log's retention is next due to be re-armed (ev_scope_done)
--            "h:<s>\0<p>" -> the pair's head "<cardinality> <versions> <superseded> <last
--              recording time (us)> <top>[ <chain> <tid> <tod>]": cardinality "1" (one
--              object valid at a time) or "n" (many); top the latest start any version of
--              the pair was given (no believed one starts after it). The three last are
--              written by a claim that starts after every other (fact_push) and dropped by
--              any other write: the pair's last "v" member is then version tid (object
--              digest tod), open, starting at top and recorded at the last recording time;
--              and chain ("0": none) is where its implicit cuts start (see below)
--            "d:<id>" -> the object (its type char, then payload) of the claim version `id`
--              made; "s:<id>" its source, "q:<id>" its confidence (text), when given. The
--              versions cut from that claim later point at it too (their did)
--            "m:<s>\0<p>\0<k>" -> the pair's k-th superseded version (k from 1): its "v"
--              member after the pair's prefix, then " <rt>"
--   I  zset  every score 0, read by lex range (so members sort by their text):
--            "v\0<s>\0<p>\0<vf>\0<id> <vt> <did> <od> <card> <rf>" each believed version,
--              by pair and start (vf and vt in 17 digits, ids in 12)
--            "p\0<s>\0<p>" each pair (a subject's predicates, for facts_about; the
--              scope's subjects, for facts_subjects)
--            "o\0<p>\0<od>\0<s>" the pair (s, p) has held a version of object digest od
-- A write that closes the open claim supersedes it and records again the part of it before the new
-- claim (its "piece"): one hash field and two members more, which cost more server time than the
-- claim itself (zset members this long cost a few us each to insert). So a single-valued claim
-- starting after every other version of its pair, open-ended, leaves that cut implicit (fact_push):
-- from the head's chain on, each "v" member of the pair supersedes the member just before it (by
-- start) at its own recording time rf, and stands for that member's piece: the same start, claim
-- and object, ending where it starts, recorded at rf, its id one after its own (fact_push reserves
-- it). Reads of what is believed now need not know (the piece holds what its member held until
-- then); reads of an earlier belief and history expand the chain (fact_versions); any other write
-- reads through it (fact_chain) and, when it writes, first records the cuts as the writes that made
-- them would have (fact_commit): the same members, fields and ids. od is the client's digest of the
-- object's type and payload. World times travel and are kept as us since the epoch plus 2^52 (all
-- positive, and below 2^53: exact in a Lua number; the client keeps them within the years 1828 to
-- 2112); FACT_OPEN (2^53) is an open end. Names hold no control characters (the client checks), so
-- "\0" separates them and sorts first. Recording times strictly increase per pair. Subjects <s> are
-- as the client stores them: with encrypt_names, their encryption (base64url).
local FACT_OPEN = 9007199254740992

-- FACT_OPEN as the text "v" members hold (fact_w)
local FACT_OPEN_W = '09007199254740992'

-- redis.call(cmd, key, items...) (nothing when there are none): at once when they are few,
-- else in chunks (pair_call)
local function fact_call(cmd, key, items)
  local n = #items
  if n == 0 then return {} end
  if n <= 1000 then return redis.call(cmd, key, unpack(items)) end
  return pair_call(cmd, key, items)
end

-- world time offset: a world time is us since the epoch + FACT_OFF
local FACT_OFF = 4503599627370496

-- a world time as the fixed-width text "v" members sort by
local function fact_w(t)
  return string.format('%017d', t)
end

-- a version from its text `m` (a "v" member, or an "m:" field's value) after its first n
-- bytes: {vf, w = vf's text, id, vt, did, od, card, rf, rt (nil: believed), m}
local function fact_parse(m, n)
  local id, vt, did, od, card, rf, rt =
    string.match(m, '^(%d+) (%d+) (%d+) (%x+) (%w) (%d+) ?(%d*)$', n + 19)
  local w = string.sub(m, n + 1, n + 17)
  return {vf = w + 0, w = w, id = id, vt = vt + 0, did = did, od = od, card = card,
    rf = rf + 0, rt = tonumber(rt), m = m}
end

-- the believed versions of the pair whose member prefix is `pre` between the lex bounds lo
-- and hi (hi first when `rev`), at most `limit` (nil: all), parsed (fact_parse); `ov`
-- (nil: none) maps a member of an implicit chain to the piece it stands for (fact_chain)
local function fact_list(i, pre, lo, hi, rev, limit, ov)
  local r
  if rev and limit then
    r = redis.call('ZRANGE', i, hi, lo, 'BYLEX', 'REV', 'LIMIT', 0, limit)
  elseif rev then
    r = redis.call('ZRANGE', i, hi, lo, 'BYLEX', 'REV')
  elseif limit then
    r = redis.call('ZRANGE', i, lo, hi, 'BYLEX', 'LIMIT', 0, limit)
  else
    r = redis.call('ZRANGE', i, lo, hi, 'BYLEX')
  end
  local n = #pre
  for j = 1, #r do r[j] = ov and ov[r[j]] or fact_parse(r[j], n) end
  return r
end

-- the believed versions of pair `pre` starting at or before world time t, latest first
-- (at most `limit`; nil: all). O(log N + returned).
local function fact_before(i, pre, t, limit, ov)
  return fact_list(i, pre, '[' .. pre, '[' .. pre .. fact_w(t) .. '\1', true, limit, ov)
end

-- the believed versions of pair `pre` starting after world time t and before u, earliest
-- first (at most `limit`; nil: all). O(log N + returned).
local function fact_after(i, pre, t, u, limit, ov)
  return fact_list(i, pre, '[' .. pre .. fact_w(t) .. '\1', '(' .. pre .. fact_w(u), false, limit,
    ov)
end

-- the piece that member c of an implicit chain stands for, cut by nx (the next member):
-- c's start, claim and object until nx's start, recorded with nx, its id nx's + 1
local function fact_piece(c, nx, pre)
  local id = string.format('%012d', nx.id + 1)
  local m = pre .. c.w .. '\0' .. id .. ' ' .. fact_w(nx.vf) .. ' ' .. c.did .. ' ' .. c.od ..
    ' ' .. c.card .. ' ' .. string.format('%d', nx.rf)
  return {vf = c.vf, w = c.w, id = id, vt = nx.vf, did = c.did, od = c.od, card = c.card,
    rf = nx.rf, m = m}
end

-- a pair's head (F's "h:" field text) parsed: {card, count, ended, last, top, chain (nil:
-- none), tid and tod (nil: not known)}; see the facts layout
local function fact_head(text)
  local card, count, ended, last, top, chain, tid, tod =
    string.match(text, '^(%w) (%d+) (%d+) (%d+) (%d+) ?(%d*) ?(%d*) ?(%x*)$')
  local head = {card = card, count = count + 0, ended = ended + 0, last = last + 0,
    top = top + 0}
  if tid ~= '' then
    if chain ~= '0' then head.chain = chain + 0 end
    head.tid, head.tod = tid, tod
  end
  return head
end

-- every version of pair (s, p) whose head is `head` (fact_head): the believed ones from I
-- (an implicit chain expanded: each member it cuts superseded, and its piece), the others
-- from F's "m:" fields, in no order. O(log N + V), V <= the pair's cap.
local function fact_versions(f, i, s, p, head)
  local pre = 'v\0' .. s .. '\0' .. p .. '\0'
  local out = fact_list(i, pre, '[' .. pre, '[' .. pre .. '\255', false, nil)
  local chain = head.chain
  if chain then  -- ascending by start: the chain is the last members, and the one before
    local n = #out
    for j = n - 1, 1, -1 do
      if out[j + 1].vf < chain then break end
      out[#out + 1] = fact_piece(out[j], out[j + 1], pre)
      out[j].rt = out[j + 1].rf
    end
  end
  local fields = {}
  local name = 'm:' .. s .. '\0' .. p .. '\0'
  for j = 1, head.ended do fields[j] = name .. j end
  local old = fact_call('HMGET', f, fields)
  for j = 1, #old do
    if old[j] then out[#out + 1] = fact_parse(old[j], 0) end
  end
  return out
end

-- the versions of pair (s, p) (its head `head`) valid at world time a as believed at
-- recording time k, earliest start first: every version is read, so O(log N + V) for the
-- V versions of the pair (V <= its cap).
local function fact_past(f, i, s, p, head, a, k)
  local out = {}
  for _, c in ipairs(fact_versions(f, i, s, p, head)) do
    if c.rf <= k and (not c.rt or c.rt > k) and c.vf <= a and c.vt > a then
      out[#out + 1] = c
    end
  end
  table.sort(out, function(x, y)
    if x.vf ~= y.vf then return x.vf < y.vf end
    return x.id < y.id
  end)
  return out
end

-- The versions of pair (s, p) valid at world time a, as believed at recording time k (nil:
-- now), earliest start first, and the pair's cardinality (nil when unknown). Believed now
-- (k nil, or after the pair's last change): one lookup of the latest start at or before a,
-- O(log N), for a single-valued pair; O(log N + S) for a many-valued one with S believed
-- versions starting at or before a. Earlier: fact_past. An implicit chain (see the facts
-- layout) changes nothing here: the member found is the latest start at or before a, so
-- the next one, which would end its piece, starts after a. A single-valued version comes
-- back with only what the reads use of it (did, vt and od): the lookup is the commonest
-- read's, and a full parse costs more than the rest of it.
local function fact_valid(f, i, s, p, a, k)
  if k then
    local text = redis.call('HGET', f, 'h:' .. s .. '\0' .. p)
    if not text then return {}, nil end
    local head = fact_head(text)
    if k < head.last then return fact_past(f, i, s, p, head, a, k), head.card end
  end
  local pre = 'v\0' .. s .. '\0' .. p .. '\0'
  local m = redis.call('ZRANGE', i, '[' .. pre .. fact_w(a) .. '\1', '[' .. pre, 'BYLEX', 'REV',
    'LIMIT', 0, 1)[1]
  if not m then return {}, nil end
  local vt, did, od, card = string.match(m, '^%d+ (%d+) (%d+) (%x+) (%w)', #pre + 19)
  if card == '1' then
    vt = vt + 0
    if vt > a then return {{did = did, vt = vt, od = od}}, '1' end
    return {}, '1'
  end
  local all = fact_before(i, pre, a, nil)
  local out = {}
  for j = #all, 1, -1 do
    if all[j].vt > a then out[#out + 1] = all[j] end
  end
  return out, 'n'
end

-- a read's world time a (ARGV text, "": now) and recording time k ("": now, nil)
local function fact_when(as_of, known_at)
  local a, k = tonumber(as_of), tonumber(known_at)
  if not a then
    local t = redis.call('TIME')
    a = t[1] * 1000000 + t[2] + FACT_OFF
  end
  return a, k
end

-- the objects of versions `found` (their claims' "d:" fields), in order; nil (false for a
-- lone one) for one whose F lost it (eviction)
local function fact_objects(f, found)
  if #found == 1 then return {redis.call('HGET', f, 'd:' .. found[1].did)} end
  local fields = {}
  for j = 1, #found do fields[j] = 'd:' .. found[j].did end
  return fact_call('HMGET', f, fields)
end

-- Before a write: whether F and I lost one another (eviction: F's "c" without I, or I
-- without "c"), in which case both are dropped, after a write a server at maxmemory refuses
-- (see pair_guard), and the store starts empty. One EXISTS.
local function fact_lost(f, i, n)
  local indexed = redis.call('EXISTS', i) == 1
  if n and not indexed then
    redis.call('HSET', f, 'c', n)
    redis.call('DEL', f)
    return true
  end
  if indexed and not n then
    local first = redis.call('ZRANGE', i, 0, 0)
    redis.call('ZADD', i, 'XX', 0, first[1])
    redis.call('DEL', i, f)
    return true
  end
  return false
end

-- an error reply when adding `added` versions passes a cap: `count` the pair's versions,
-- `held` F's "c" (text or nil), the caps as ARGV text
local function fact_room(count, held, added, max_versions, max_facts)
  if count + added > max_versions + 0 then
    return redis.error_reply('PM_FULL the subject and predicate hold ' .. count ..
      ' versions; this write needs ' .. added .. ' more and the cap is ' .. max_versions)
  end
  if (tonumber(held) or 0) + added > max_facts + 0 then
    return redis.error_reply('PM_FULL the scope holds ' .. (held or 0) .. ' fact versions;' ..
      ' this write needs ' .. added .. ' more and the cap is ' .. max_facts)
  end
  return nil
end

-- Before a fact write: what it reads of F (st: the pair's head, c, r, x; all nil when the
-- store was lost, see fact_lost), the pair's head parsed (fact_head; {count = 0, ended =
-- 0} for a new pair), the recording time rf (the server clock in us, after the pair's
-- last) and the clock's ms.
local function fact_state(f, i, s, p)
  local now, now_us = clock()
  local st = redis.call('HMGET', f, 'h:' .. s .. '\0' .. p, 'c', 'r', 'x')
  if fact_lost(f, i, st[2]) then st = {} end
  local head = {count = 0, ended = 0}
  local rf = now_us
  if st[1] then
    head = fact_head(st[1])
    if rf <= head.last then rf = head.last + 1 end
  end
  return st, head, rf, now
end

-- For a write on a pair with an implicit chain starting at `chain` (see the facts layout):
-- ov, mapping each member the chain cuts to the piece it stands for, for the write's reads
-- (fact_list), and those pieces in the order the cuts were made, for fact_commit to record
-- them. Each piece is marked `flat` (not a member yet) and keeps the member it stands for
-- (`of`). Two lex lookups.
local function fact_chain(i, pre, chain)
  local list = fact_before(i, pre, chain - 1, 1)
  for _, c in ipairs(fact_after(i, pre, chain - 1, FACT_OPEN, nil)) do list[#list + 1] = c end
  local ov, cuts = {}, {}
  for j = 1, #list - 1 do
    local piece = fact_piece(list[j], list[j + 1], pre)
    piece.flat, piece.of = true, list[j].m
    ov[piece.of] = piece
    cuts[j] = piece
  end
  return ov, cuts
end

-- The keys' time to live after a fact write: `ttl` ms (text; "0": none); st[4] whether
-- they had one. Two calls when they have one, none when they never had.
local function fact_expire(f, i, ttl, st)
  if ttl ~= '0' then
    redis.call('PEXPIRE', f, ttl)
    redis.call('PEXPIRE', i, ttl)
  elseif st[4] then
    redis.call('HDEL', f, 'x')
    redis.call('PERSIST', f)
    redis.call('PERSIST', i)
  end
end

-- the change event of a claim recorded (facts_add, facts_correct: `mode`), version `id`
local function fact_logged(f, log, argv, mode, id, st, now)
  local s, p, version = argv[1], argv[2], fmt_int(id + 0)
  local created
  if ev_values(argv) then
    created = ev_add(log, argv, 'o', mode, 'w', 'f', 'k', s, 'a', p, 'v', version,
      'y', argv[8], 'p', argv[9])
  else
    created = ev_add(log, argv, 'o', mode, 'w', 'f', 'k', s, 'a', p, 'v', version)
  end
  ev_scope_done(f, log, argv, st[3], now, created)
end

-- Commit a fact write: supersede the versions `cut` at recording time rf, add the versions
-- `pieces` (the parts of cut versions the write leaves believed) and the new claim `new`
-- (nil for a retract) with its fields `data` (F fields and values: its object, source,
-- confidence), and set the keys' time to live (`ttl` ms text; "0": none). `st` and `head`
-- are fact_state's; `cuts` (nil: none) the pieces of the pair's implicit chain
-- (fact_chain), whose cuts are recorded first, as the writes that made them would have.
-- Its first write is an HSET that grows F (which a server at maxmemory refuses).
-- `indexed`: the pair already lists the new claim's object (an "o" member). Returns the new
-- claim's id. Cost: HSET, ZREM (when anything is cut), ZADD, and the two keys' expiry when
-- they have a time to live.
local function fact_commit(f, i, s, p, card, head, rf, st, cut, pieces, new, data, ttl,
    indexed, cuts)
  local next_id = tonumber(st[2]) or 0
  local made = {}
  if new then made[1] = new end
  for j = 1, #pieces do made[#made + 1] = pieces[j] end
  for j = 1, #made do
    next_id = next_id + 1
    made[j].id = string.format('%012d', next_id)
  end
  local fields = {}
  if new then
    new.did = new.id
    for j = 1, #data, 2 do
      fields[#fields + 1] = data[j] .. new.id
      fields[#fields + 1] = data[j + 1]
    end
  end
  local rfs = string.format('%d', rf)
  local pair = s .. '\0' .. p
  local pre = 'v\0' .. pair .. '\0'
  local name = 'm:' .. pair .. '\0'
  local gone, members, n, ended = {}, {}, #pre, head.ended
  local dropped = {}  -- the chain's pieces this write cuts: never members
  for j = 1, #cut do
    if cut[j].flat then dropped[cut[j]] = true end
  end
  for _, piece in ipairs(cuts or {}) do  -- the chain's cuts, in the order they were made
    ended = ended + 1
    fields[#fields + 1] = name .. ended
    fields[#fields + 1] = string.sub(piece.of, n + 1) .. ' ' .. string.format('%d', piece.rf)
    gone[#gone + 1] = piece.of
    if not dropped[piece] then
      members[#members + 1] = '0'
      members[#members + 1] = piece.m
    end
  end
  for j = 1, #cut do
    if not cut[j].flat then gone[#gone + 1] = cut[j].m end
    fields[#fields + 1] = name .. (ended + j)
    fields[#fields + 1] = string.sub(cut[j].m, n + 1) .. ' ' .. rfs
  end
  local top = head.top or 0
  for j = 1, #made do
    local c = made[j]
    if c.vf > top then top = c.vf end
    members[#members + 1] = '0'
    members[#members + 1] = pre .. (c.w or fact_w(c.vf)) .. '\0' .. c.id .. ' ' ..
      fact_w(c.vt) .. ' ' .. c.did .. ' ' .. c.od .. ' ' .. card .. ' ' .. rfs
  end
  fields[#fields + 1] = 'h:' .. pair
  fields[#fields + 1] = card .. ' ' .. (head.count + #made) .. ' ' .. (ended + #cut) ..
    ' ' .. rfs .. ' ' .. string.format('%d', top)
  fields[#fields + 1] = 'c'
  fields[#fields + 1] = next_id
  if ttl ~= '0' and not st[4] then
    fields[#fields + 1] = 'x'
    fields[#fields + 1] = '1'
  end
  fact_call('HSET', f, fields)
  fact_call('ZREM', i, gone)
  if head.count == 0 then
    members[#members + 1] = '0'
    members[#members + 1] = 'p\0' .. pair
  end
  if new and not indexed then
    members[#members + 1] = '0'
    members[#members + 1] = 'o\0' .. p .. '\0' .. new.od .. '\0' .. s
  end
  fact_call('ZADD', i, members)
  fact_expire(f, i, ttl, st)
  if new then return new.id end
  return nil
end

-- facts_add's fast path: a claim of a single-valued pair starting after every version of
-- it (no believed one starts at or after valid_from), open-ended (no valid_to given), of
-- another object than the one it cuts. The version it cuts (the one holding valid_from:
-- the pair's last member, open or ending after valid_from) is left in place: the cut is
-- implicit (see the facts layout), and the claim gets its id and the next, for the piece.
-- Returns the reply, or nil when the claim is not such a one (then nothing was written).
-- Cost: HSET and ZADD, no lookup when the pair's last write was one of these (its head
-- knows the version cut), else one; plus the keys' expiry and the event, as fact_commit.
local function fact_push(f, i, log, argv, st, head, rf, now)
  if head.card ~= '1' or argv[4] ~= '' then return nil end
  local vf = tonumber(argv[3]) or rf + FACT_OFF
  if vf <= head.top then return nil end
  local s, p, od = argv[1], argv[2], argv[7]
  local pair = s .. '\0' .. p
  local pre = 'v\0' .. pair .. '\0'
  local cut = false
  if head.tid then  -- the last member: open, so cut
    if head.tod == od then return nil end
    cut = true
  else
    local c = fact_before(i, pre, vf, 1)[1]
    if c and c.vt > vf then
      if c.od == od then return nil end
      cut = true
    end
  end
  local added = cut and 2 or 1
  local err = fact_room(head.count, st[2], added, argv[13], argv[14])
  if err then return err end
  local next_id = (tonumber(st[2]) or 0) + 1
  local id = string.format('%012d', next_id)
  local rfs, vfs = string.format('%d', rf), string.format('%d', vf)
  local fields = {'d:' .. id, argv[8] .. argv[9]}
  if argv[10] ~= '' then
    fields[3], fields[4] = 's:' .. id, argv[10]
  end
  if argv[11] ~= '' then
    fields[#fields + 1], fields[#fields + 2] = 'q:' .. id, argv[11]
  end
  local chain = '0'
  if head.chain then
    chain = string.format('%d', head.chain)
  elseif cut then
    chain = vfs
  end
  fields[#fields + 1] = 'h:' .. pair
  fields[#fields + 1] = '1 ' .. (head.count + added) .. ' ' .. head.ended .. ' ' .. rfs ..
    ' ' .. vfs .. ' ' .. chain .. ' ' .. id .. ' ' .. od
  fields[#fields + 1] = 'c'
  fields[#fields + 1] = next_id + added - 1
  local ttl = argv[12]
  if ttl ~= '0' and not st[4] then
    fields[#fields + 1] = 'x'
    fields[#fields + 1] = '1'
  end
  redis.call('HSET', f, unpack(fields))
  redis.call('ZADD', i, 0, pre .. fact_w(vf) .. '\0' .. id .. ' ' .. FACT_OPEN_W .. ' ' ..
    id .. ' ' .. od .. ' 1 ' .. rfs, 0, 'o\0' .. p .. '\0' .. od .. '\0' .. s)
  fact_expire(f, i, ttl, st)
  if log then fact_logged(f, log, argv, 'add', id, st, now) end
  return {id, vf, FACT_OPEN, rf, '1'}
end

-- Record a claim (facts_add, facts_correct; `mode` is their name, and the ARGV layout they
-- share is in their headers). Works out the claim's interval, the believed versions it
-- cuts (`rival`s: every object's for a single-valued pair; for a many-valued one the same
-- object's, and a correct's replaced object), the parts of them left standing, then
-- checks the caps and commits (an add that fact_push takes never gets that far). Returns
-- the reply {id, vf, vt, rf, "1"} or, when an identical claim is already believed over the
-- whole interval, that claim's with "0".
-- Cost: O(log N) for a single-valued pair, plus O(C) for C versions cut; a many-valued
-- pair reads its believed versions that start before the claim ends. Plus fact_commit.
local function fact_write(f, i, log, argv, mode)
  local s, p, od = argv[1], argv[2], argv[7]
  local st, head, rf, now = fact_state(f, i, s, p)
  local card, asked = head.card, argv[5]
  if asked ~= '' and card and asked ~= card then
    return redis.error_reply('PM_INVALID this subject and predicate were recorded with ' ..
      'cardinality "' .. (card == '1' and 'one' or 'many') .. '"')
  end
  card = card or (asked ~= '' and asked or '1')
  local one = card == '1'
  if mode == 'add' then
    local done = fact_push(f, i, log, argv, st, head, rf, now)
    if done then return done end
  end
  local rd = argv[6]  -- correct: the object digest it replaces ("": any)
  local function rival(c)
    if one then return true end
    if mode == 'add' then return c.od == od end
    return rd == '' or c.od == rd or c.od == od
  end
  local pre = 'v\0' .. s .. '\0' .. p .. '\0'
  local ov, cuts  -- the pair's implicit chain, read through (fact_chain)
  if head.chain then ov, cuts = fact_chain(i, pre, head.chain) end
  local world = rf + FACT_OFF
  local vf, vt = tonumber(argv[3]), tonumber(argv[4])
  local given_vf, given_vt = vf ~= nil, vt ~= nil
  if mode == 'correct' then
    -- the versions replaced: those believed valid at valid_from (default: now), of the
    -- replaced object if named; the claim takes their interval unless given one
    local t0 = vf or world
    local hit = {}
    local before = fact_before(i, pre, t0, one and 1 or nil, ov)
    for j = 1, #before do
      local c = before[j]
      if c.vt > t0 and (rd == '' or c.od == rd) then hit[#hit + 1] = c end
    end
    if rd ~= '' and #hit == 0 then
      return redis.error_reply('PM_MISSING no version of the object to replace is valid then')
    end
    for j = 1, #hit do
      if not given_vf and (not vf or hit[j].vf < vf) then vf = hit[j].vf end
      if not given_vt and (not vt or hit[j].vt > vt) then vt = hit[j].vt end
    end
  end
  vf = vf or world
  local next_start = false  -- vt is where the next rival starts (or open, none does)
  if not vt then
    -- until the next believed change: the earliest rival starting after vf
    vt, next_start = FACT_OPEN, true
    local later = {}
    if head.top and head.top > vf then
      later = fact_after(i, pre, vf, FACT_OPEN, one and 1 or nil, ov)
    end
    for j = 1, #later do
      if rival(later[j]) then
        vt = later[j].vf
        break
      end
    end
  end
  if vf >= vt then
    return redis.error_reply('PM_INVALID valid_to must be after valid_from')
  end
  -- the rivals believed over [vf, vt)
  local cut, span = {}, nil
  if one then  -- believed versions are disjoint: the one holding vf, then those after it
    span = fact_before(i, pre, vf, 1, ov)
    if not next_start then  -- (else none starts between vf and vt)
      for _, c in ipairs(fact_after(i, pre, vf, vt, nil, ov)) do span[#span + 1] = c end
    end
  else
    span = fact_list(i, pre, '[' .. pre, '(' .. pre .. fact_w(vt), false, nil, ov)
  end
  for j = 1, #span do
    local c = span[j]
    if c.vt > vf and c.vf < vt and rival(c) then cut[#cut + 1] = c end
  end
  local payload = argv[8] .. argv[9]
  -- the same object is the same digest (its payload may differ: an encrypted one is sealed
  -- afresh by every write)
  if #cut == 1 and cut[1].od == od and cut[1].vf <= vf and cut[1].vt >= vt then
    local c = cut[1]
    local d = redis.call('HMGET', f, 's:' .. c.did, 'q:' .. c.did)
    if (d[1] or '') == argv[10] and (d[2] or '') == argv[11] then
      return {c.id, c.vf, c.vt, c.rf, '0'}
    end
  end
  local pieces = {}
  for j = 1, #cut do
    local c = cut[j]
    if c.vf < vf then
      pieces[#pieces + 1] = {vf = c.vf, w = c.w, vt = vf, did = c.did, od = c.od}
    end
    if c.vt > vt then pieces[#pieces + 1] = {vf = vt, vt = c.vt, did = c.did, od = c.od} end
  end
  local err = fact_room(head.count, st[2], 1 + #pieces, argv[13], argv[14])
  if err then return err end
  local indexed = false
  for j = 1, #cut do
    if cut[j].od == od then indexed = true end
  end
  local data = {'d:', payload}
  if argv[10] ~= '' then
    data[3], data[4] = 's:', argv[10]
  end
  if argv[11] ~= '' then
    data[#data + 1], data[#data + 2] = 'q:', argv[11]
  end
  local new = {vf = vf, vt = vt, od = od}
  local id = fact_commit(f, i, s, p, card, head, rf, st, cut, pieces, new, data, argv[12],
    indexed, cuts)
  if log then fact_logged(f, log, argv, mode, id, st, now) end
  return {id, vf, vt, rf, '1'}
end

-- scope_delete on one scope (H `h`, X `x`, change log `log`, nil without events): remove
-- `key`; `argv` ends with the log's arguments. Returns 1 when a live key was removed, else
-- 0. Shared with lua/context_delete.lua.
local function scope_delete_in(h, x, log, key, argv)
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
    local n = ev_expired(log, argv, 'v', dead)
    if removed == 1 then ev_write(log, argv, 'delete', 'v', key) end
    if n + removed > 0 then ev_done(log, argv) end
  end
  return removed
end

-- scope_incr on one scope (H `h`, X `x`, change log `log`, nil without events): add the
-- `amount` (text) of type `atype` to `key`, which gets `ttl_ms` when the call creates it;
-- `max_keys` caps the scope; `argv` ends with the log's arguments. Returns the script's
-- reply (see lua/scope_incr.lua). Shared with lua/context_incr.lua.
local function scope_incr_in(h, x, log, key, atype, amount, ttl_ms, max_keys, argv)
  local now, now_us = clock()
  local r
  if log then
    r = redis.call('HMGET', h, 'm:' .. key, 'd:' .. key, 'e', 'n', 'r')
  else
    r = redis.call('HMGET', h, 'm:' .. key, 'd:' .. key, 'e', 'n')
  end
  local old = r[1]
  local live = live_meta(old, now)
  local ctype, current = nil, nil
  if live then
    ctype, current = string.sub(live, 1, 1), string.sub(live, 2, 17) + 0
    if ctype ~= 'i' and ctype ~= 'f' then  -- codec bytes, or an encrypted value
      return redis.error_reply('PM_WRONGTYPE the value is not a number')
    end
  end
  if not live then
    local err = scope_full(x, now, 1, tonumber(max_keys))
    if err then return err end
  end
  local LIMIT = 9007199254740992  -- 2^53: below it, Lua numbers are exact integers
  local vtype, payload
  if ctype ~= 'f' and atype == 'i' then
    vtype = 'i'
    payload = amount
    if live then
      local base, inc = tonumber(r[2]), tonumber(amount)
      local sum = base + inc
      -- exact only when all three are (an amount past 2^53 was rounded by tonumber)
      if sum > -LIMIT and sum < LIMIT and base > -LIMIT and base < LIMIT and inc > -LIMIT
          and inc < LIMIT then
        payload = fmt_int(sum)
      else
        -- HINCRBY is exact over all 64 bits (and refuses to overflow)
        local res = redis.pcall('HINCRBY', h, 'd:' .. key, amount)
        if type(res) ~= 'number' then  -- an error reply (a table; other objects on some engines)
          -- refused at maxmemory (the call's first write): that error, as the others get it
          if string.sub(tostring(res.err), 1, 4) == 'OOM ' then return res end
          return redis.error_reply('PM_OVERFLOW the result does not fit in 64 bits')
        end
        payload = redis.call('HGET', h, 'd:' .. key)
      end
    end
  else
    vtype = 'f'
    local base = 0
    if live then base = tonumber(r[2]) end
    local v = base + tonumber(amount)
    if v ~= v or v == math.huge or v == -math.huge then
      return redis.error_reply('PM_OVERFLOW the result is not a finite float')
    end
    payload = string.format('%.17g', v)
  end
  -- housekeeping only once the call is known to succeed: a refused call writes nothing
  local e, low, dead = scope_settle(h, x, r[3], r[4], now, true, log ~= nil)
  local expiry = write_expiry(now, ttl_ms, '1', current)
  local meta, was = scope_meta(vtype, expiry, now_us, old, live)
  if was ~= expiry then redis.call('ZADD', x, fmt_int(expiry), key) end
  local target = pair_target(x, e, expiry, false)  -- a live key keeps its expiry
  scope_hset(h, e, target, r[4], low, expiry, 'd:' .. key, payload, 'm:' .. key, meta)
  pair_expire(h, x, e, target, false)
  if log then
    local _, created = ev_expired(log, argv, 'v', dead)
    created = ev_write(log, argv, 'incr', 'v', key, string.sub(meta, 18), vtype, payload) or created
    ev_scope_done(h, log, argv, r[5], now, created)
  end
  return {meta, payload}
end

-- Recall (lua/recall_*.lua; the layout is in recall_add.lua): whether the index's four
-- keys agree, eviction having taken none of them: `g` R's version (false: no R) and `k`
-- R's field "k" (T holds its marker, the member "" at +inf, which keeps T there as long as
-- the index: an index written before the marker may lack T). One EXISTS.
local function recall_whole(x, c, t, g, k)
  local n = redis.call('EXISTS', x, c, t)
  if not g then return n == 0 end
  return n == 3 or (not k and n == 2)
end

-- (recall writes) T's marker, for an index `g` that has none yet (`k` false), T expiring
-- with the other keys (at `e`, R's field "e"). 0-3 calls.
local function recall_mark(r, t, g, k, e)
  if g and not k then
    redis.call('ZADD', t, '+inf', '')
    redis.call('HSET', r, 'k', '1')
    if e and tonumber(e) < NOEXP then redis.call('PEXPIREAT', t, e) end
  end
end

-- (recall writes but the first add) R's fields "g", "e" and "k" when the index is whole,
-- else nil, having dropped the part that eviction left (or nothing: no index). Two calls.
local function recall_state(r, x, c, t)
  local st = redis.call('HMGET', r, 'g', 'e', 'k')
  if not st[1] or not recall_whole(x, c, t, st[1], st[3]) then
    redis.call('DEL', r, x, c, t)
    return nil
  end
  return st[1], st[2], st[3]
end

-- (recall writes) the four keys expire with the last-expiring item, X's highest score:
-- set, with R's field "e", when it is not `e` (the text read; nil: unknown) or `force`.
-- ZRANGE, then 0 calls, or HSET and 4 PEXPIREAT (PERSIST).
local function recall_expire(r, x, c, t, e, force)
  local last = tonumber(redis.call('ZRANGE', x, -1, -1, 'WITHSCORES')[2])
  if e and tonumber(e) == last and not force then return end
  redis.call('HSET', r, 'e', string.format('%d', last))
  if last >= NOEXP then
    redis.call('PERSIST', r)
    redis.call('PERSIST', x)
    redis.call('PERSIST', c)
    redis.call('PERSIST', t)
  else
    local at = string.format('%d', last)
    redis.call('PEXPIREAT', r, at)
    redis.call('PEXPIREAT', x, at)
    redis.call('PEXPIREAT', c, at)
    redis.call('PEXPIREAT', t, at)
  end
end

-- Recall: remove the items `ids` from
-- R (their "i:" fields), X and C, and leave a tombstone for each in T at version `head`
-- (text), so that clients' caches of the index drop them. In chunks of 1000.
local function recall_drop(r, x, c, t, ids, head)
  local fields, marks = {}, {}
  for i = 1, #ids do
    fields[i] = 'i:' .. ids[i]
    marks[2 * i - 1], marks[2 * i] = head, ids[i]
  end
  for i = 1, #ids, 1000 do
    local j = math.min(i + 999, #ids)
    redis.call('HDEL', r, unpack(fields, i, j))
    redis.call('ZREM', x, unpack(ids, i, j))
    redis.call('ZREM', c, unpack(ids, i, j))
    redis.call('ZADD', t, unpack(marks, 2 * i - 1, 2 * j))
  end
end
