-- scope_incr: add to a numeric value atomically (a missing key counts as 0).
-- KEYS[1] H  KEYS[2] X  KEYS[3] the scope's change log (only when the call logs events)
-- ARGV[1] key  ARGV[2] amount type ("i"|"f")  ARGV[3] amount (integer or float text)
-- ARGV[4] ttl in ms applied only when the key is created (0: never expires)
-- ARGV[5] max keys in the scope
-- ARGV[6..8] with KEYS[3]: the log's cap, retention (ms) and "1" to log values
-- Reply: {meta, payload} of the new value. Errors: PM_WRONGTYPE, PM_OVERFLOW, PM_FULL.
-- Events: "expire" for each key purged, then "incr" (k, v; y, p: the new value).
-- Cost: O(log N), as scope_set (an existing key keeps its expiry: 4 calls). With events:
-- as scope_set.
-- Flags: once
local h, x, log = KEYS[1], KEYS[2], KEYS[3]
local key, atype, amount = ARGV[1], ARGV[2], ARGV[3]
local ttl_ms = tonumber(ARGV[4])
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
  local err = scope_full(x, now, 1, tonumber(ARGV[5]))
  if err then return err end
end
local LIMIT = 9007199254740992  -- 2^53: below it, Lua numbers are exact integers
local vtype, payload
if ctype ~= 'f' and atype == 'i' then
  vtype = 'i'
  payload = amount
  if live then
    local base = tonumber(r[2])
    local sum = base + tonumber(amount)
    if sum > -LIMIT and sum < LIMIT and base > -LIMIT and base < LIMIT then
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
  local _, created = ev_expired(log, ARGV, 'v', dead)
  created = ev_write(log, ARGV, 'incr', 'v', key, string.sub(meta, 18), vtype, payload) or created
  ev_scope_done(h, log, ARGV, r[5], now, created)
end
return {meta, payload}
