-- Shared prelude. The registry prepends to each script the definitions below that it uses
-- (directly or through another definition), so keep one definition per blank-line-separated
-- block, each `local`: a global poisons every later script on fakeredis.
--
-- Scope layout (all keys of one scope share one hash tag):
--   H  hash  "d:<key>" -> payload
--            "m:<key>" -> meta "<type><expiry><version>"
--              type (1 char): "m" codec bytes, "i" integer text, "f" float text
--              expiry (16 digits, zero-padded): ms since the epoch (NOEXP: never)
--              version (digits): server-clock microseconds, strictly increasing per key
--   X  zset  <key> -> expiry, the index that lists keys and finds expired ones
-- A key is live while its expiry is > now. Expired entries are purged when a write adds a
-- key to the scope; H and X expire no earlier than their last entry (PEXPIREAT ... GT).

local NOEXP = 4503599627370496  -- 2^52 ms: "never"

-- the server clock, once per script: ms, us
local function clock()
  local t = redis.call('TIME')
  local s, us = tonumber(t[1]), tonumber(t[2])
  return s * 1000 + math.floor(us / 1000), s * 1000000 + us
end

local function fmt_int(n)
  return string.format('%.0f', n)
end

-- meta -> type, expiry (number), version (string)
local function parse_meta(meta)
  return string.sub(meta, 1, 1), tonumber(string.sub(meta, 2, 17)), string.sub(meta, 18)
end

local function make_meta(vtype, expiry, version)
  return vtype .. string.format('%016.0f', expiry) .. fmt_int(version)
end

-- the meta of a live key, or nil when it is absent or expired
local function live_meta(meta, now)
  if meta and tonumber(string.sub(meta, 2, 17)) > now then return meta end
  return nil
end

-- drop every expired entry of a scope; bounded by the scope's key cap
local function purge_expired(h, x, now)
  local dead = redis.call('ZRANGEBYSCORE', x, '-inf', fmt_int(now))
  if #dead == 0 then return 0 end
  for i = 1, #dead do
    redis.call('HDEL', h, 'd:' .. dead[i], 'm:' .. dead[i])
  end
  redis.call('ZREMRANGEBYSCORE', x, '-inf', fmt_int(now))
  return #dead
end

-- a scope key must outlive the entries written with `expiry`; `was` is the entry's previous
-- expiry (nil: new) and `fresh` says the scope was empty before this write
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

-- make the scope's keys expire with their last-expiring entry (after removals)
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

-- expiry for a write: keep = '1' keeps a live key's expiry; else ttl_ms > 0 sets one
local function write_expiry(now, ttl_ms, keep, current)
  if keep == '1' and current then return current end
  if ttl_ms > 0 then return now + ttl_ms end
  return NOEXP
end

-- the next version: the server clock, strictly after the previous version
local function next_version(now_us, old_version)
  if old_version then
    local prev = tonumber(old_version)
    if prev and prev >= now_us then return prev + 1 end
  end
  return now_us
end

-- Write one entry. `old` is the entry's stored meta (live or not, nil when absent), `live`
-- whether it is live. Returns the new meta. Adds to X only when the expiry changes.
local function write_entry(h, x, key, vtype, payload, expiry, now_us, old, live)
  local old_expiry, old_version = nil, nil
  if old then
    local _
    _, old_expiry, old_version = parse_meta(old)
  end
  local meta = make_meta(vtype, expiry, next_version(now_us, old_version))
  redis.call('HSET', h, 'd:' .. key, payload, 'm:' .. key, meta)
  if old_expiry ~= expiry then
    redis.call('ZADD', x, fmt_int(expiry), key)
  end
  local was = nil
  if live then was = old_expiry end
  return meta, was
end

-- Before a write that adds `extra` keys: purge expired entries, then check the cap.
-- Returns fresh (the scope holds nothing live), or an error reply.
local function make_room(h, x, now, extra, max_keys)
  purge_expired(h, x, now)
  local n = redis.call('ZCARD', x)
  if n + extra > max_keys then
    return nil, redis.error_reply('PM_FULL scope holds its maximum of ' .. max_keys .. ' keys')
  end
  return n == 0, nil
end

-- Cache layout (lua/cache_*.lua). A cache's entries are spread over buckets; all keys of one
-- bucket share one hash tag, so P = "<namespace>:{<tenant>:cache:<name>:<scope>:<bucket>}:":
--   P.."v:"..key  hash    t type, d payload, e expiry ms, c compute ms, f fencing token
--                         (PEXPIREAT at expiry + stale window)
--   P.."l:"..key  string  the lease: the holder's fencing token (PX lease time)
--   P.."n:"..key  string  callers waiting for the lease holder (TTL: the lease + 1 s)
--   P.."w:"..key  list    wake-ups for the waiters, one element each (TTL: CACHE_WAKE_MS)
--   P.."i"        zset    key -> when the entry's keys expire: the bucket's index, capped
local CACHE_WAKE_MS = 10000

-- wake every registered waiter of an entry: one list element each, bounded
local function cache_wake(n, w)
  local waiting = tonumber(redis.call('GET', n))
  if not waiting then return end
  redis.call('DEL', n)
  if waiting > 1000 then waiting = 1000 end
  local ones = {}
  for j = 1, waiting do ones[j] = '1' end
  redis.call('RPUSH', w, unpack(ones))
  redis.call('PEXPIRE', w, CACHE_WAKE_MS)
end

-- a fencing token greater than the entry's last one: the server clock in us, or last + 1
local function cache_fence(v, now_us)
  local last = tonumber(redis.call('HGET', v, 'f'))
  if last and last >= now_us then return last + 1 end
  return now_us
end

-- remove one entry's value and lease and wake its waiters. The keys are derived from the
-- bucket prefix `p` (itself taken from a key in KEYS), so they share its hash tag and slot.
local function cache_drop(p, key)
  local gone = redis.call('DEL', p .. 'v:' .. key)
  redis.call('DEL', p .. 'l:' .. key)
  cache_wake(p .. 'n:' .. key, p .. 'w:' .. key)
  return gone
end

-- record in the bucket index `i` that `key`'s keys live until `until_ms`; `gt` keeps a later
-- time already there. Drops members whose keys have all expired, then evicts the entries
-- that expire soonest (never `key`) while the bucket holds more than `cap`.
local function cache_index(i, key, until_ms, cap, now, gt)
  redis.call('ZREMRANGEBYSCORE', i, '-inf', '(' .. fmt_int(now))
  if gt then
    redis.call('ZADD', i, 'GT', fmt_int(until_ms), key)
  else
    redis.call('ZADD', i, fmt_int(until_ms), key)
  end
  local n = redis.call('ZCARD', i)
  if n > cap then
    local p = string.sub(i, 1, -2)
    local victims = redis.call('ZRANGE', i, 0, n - cap)
    local dropped = 0
    for j = 1, #victims do
      if dropped < n - cap and victims[j] ~= key then
        cache_drop(p, victims[j])
        redis.call('ZREM', i, victims[j])
        dropped = dropped + 1
      end
    end
  end
  if redis.call('PTTL', i) < 0 then
    redis.call('PEXPIREAT', i, fmt_int(until_ms))
  else
    redis.call('PEXPIREAT', i, fmt_int(until_ms), 'GT')
  end
end

-- History layout: a thread lives under its scope's hash tag.
--   L   list  its turns, oldest first, each a fixed binary header, then the body (codec
--             bytes, opaque to the scripts). The header is the start of a msgpack array of 4:
--             0x94, 0xcf <created ms: 8 bytes, big-endian>, 0xcf <tokens: 8 bytes>, then the
--             message id as a msgpack str: 0xd9 <1-byte length> or 0xda <2-byte length>, then
--             the UTF-8 id. With msgpack bodies a whole entry is one msgpack value, which
--             lets the client decode a read's entries in one call.
--   I   hash  message id -> "1" (the ids the thread holds); field "" -> its token total
--   TA  zset  (one per scope) thread id -> last write (ms)
--   TX  zset  (one per scope) thread id -> expiry (ms; NOEXP: never)
-- L and I expire together at the thread's TX score; TA and TX outlive their last entry.

-- a turn entry -> its message id (header bytes 20.., see the layout above)
local function turn_id(entry)
  local kind, a, b = string.byte(entry, 20, 22)
  if kind == 0xd9 then return string.sub(entry, 22, 21 + a) end
  return string.sub(entry, 23, 22 + a * 256 + b)
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

-- Before a write to a thread: its live expiry (nil when new or expired) and whether the
-- index was empty, or an error reply when a new thread would pass the scope's cap. A new
-- thread first purges expired threads from the index: O(E), E <= the cap.
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
  return nil, n == 0, nil
end

-- Set a thread's expiry (ttl_ms > 0: now + ttl_ms, else never) on L and I and in the
-- index, which then outlives it. `was` is the thread's live expiry (nil: none) and `fresh`
-- says the index was empty. Returns the expiry.
local function touch_thread(l, i, ta, tx, tid, now, ttl_ms, was, fresh)
  if ttl_ms == 0 and was == NOEXP then return NOEXP end  -- already persistent and listed
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
  extend_scope(ta, tx, expiry, was, fresh)
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

-- the first 10 bytes of a turn entry created at `ms` (see the history layout); the client
-- sends the rest
local function turn_stamp(ms)
  local hi, lo = math.floor(ms / 4294967296), ms % 4294967296  -- hi < 2^21
  return string.char(148, 207, 0, math.floor(hi / 65536), math.floor(hi / 256) % 256, hi % 256,
    math.floor(lo / 16777216), math.floor(lo / 65536) % 256, math.floor(lo / 256) % 256, lo % 256)
end
