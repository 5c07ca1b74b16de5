-- Shared prelude: prepended to every script in this folder when the registry loads it.
-- Only `local` definitions; no globals (a global poisons every later script on fakeredis).
--
-- Scope layout (all keys of one scope share one hash tag):
--   H  hash  "d:<key>" -> payload, "m:<key>" -> "<type><version>"
--            type: "m" codec bytes, "i" integer text, "f" float text
--            version: server-clock microseconds, strictly increasing per key
--   X  zset  <key> -> expiry in ms since the epoch (NOEXP when the key never expires)
-- A key is live while its expiry is > now. Expired entries are purged by the next write to
-- the scope; H and X themselves expire when their last entry does.

local NOEXP = 4503599627370496  -- 2^52 ms: "never"

local function now_us()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000000 + tonumber(t[2])
end

local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

local function fmt_int(n)
  return string.format('%.0f', n)
end

-- expiry (ms) of a live key, or nil when it is absent or expired
local function live_expiry(x, key, now)
  local s = redis.call('ZSCORE', x, key)
  if not s then return nil end
  s = tonumber(s)
  if s <= now then return nil end
  return s
end

-- drop every expired entry of a scope; bounded by the scope's key cap
local function purge_expired(h, x, now)
  local dead = redis.call('ZRANGEBYSCORE', x, '-inf', fmt_int(now))
  for i = 1, #dead do
    redis.call('HDEL', h, 'd:' .. dead[i], 'm:' .. dead[i])
  end
  if #dead > 0 then
    redis.call('ZREMRANGEBYSCORE', x, '-inf', fmt_int(now))
  end
  return #dead
end

-- make the scope's own keys expire together with its last-expiring entry
local function refresh_scope_expiry(h, x)
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

-- expiry for a write: ttl_ms > 0 sets it; keep = '1' keeps a live key's current expiry
local function write_expiry(now, ttl_ms, keep, current)
  if keep == '1' and current then return current end
  if ttl_ms > 0 then return now + ttl_ms end
  return NOEXP
end

-- the next version for a key: the server clock, strictly after the previous version
local function next_version(meta)
  local v = now_us()
  if meta then
    local prev = tonumber(string.sub(meta, 2))
    if prev and prev >= v then v = prev + 1 end
  end
  return v
end

-- store one entry; returns its new version as a string
local function write_entry(h, x, key, vtype, payload, expiry)
  local meta = redis.call('HGET', h, 'm:' .. key)
  local version = fmt_int(next_version(meta))
  redis.call('HSET', h, 'd:' .. key, payload, 'm:' .. key, vtype .. version)
  redis.call('ZADD', x, fmt_int(expiry), key)
  return version
end

-- fail unless the scope can take `extra` more keys
local function check_capacity(x, extra, max_keys)
  if extra > 0 and redis.call('ZCARD', x) + extra > max_keys then
    return redis.error_reply('PM_FULL scope holds its maximum of ' .. max_keys .. ' keys')
  end
  return nil
end
