-- scope_set_many: store several values in a scope, all or nothing.
-- KEYS[1] H  KEYS[2] X  KEYS[3] the scope's change log (only when the call logs events)
-- ARGV[1] ttl in ms (0: never expires)  ARGV[2] max keys in the scope
-- ARGV[3..] triples: key, type ("m"|"i"|"f"|"s"), payload (distinct keys; count and bytes
-- capped by the client); with KEYS[3], then the log's cap, retention (ms) and "1" to log
-- values (the last three ARGV)
-- Reply: number of keys written. Errors: PM_FULL (nothing written).
-- Events: "expire" for each key purged, then "set" for each key, in order.
-- Cost: O(n log N + E): one HMGET, ZADD and HSET for all n keys (per 1000 items), as
-- scope_set otherwise. With events: XADD per event, and the log's retention as scope_set.
-- Flags: idempotent
local h, x, log = KEYS[1], KEYS[2], KEYS[3]
local ttl_ms = tonumber(ARGV[1])
local now, now_us = clock()
local last = #ARGV
if log then last = last - 3 end
local n = (last - 2) / 3
if n < 1 then return 0 end
local wanted = {}
for j = 1, n do wanted[j] = 'm:' .. ARGV[3 * j] end
wanted[n + 1] = 'e'
wanted[n + 2] = 'n'
if log then wanted[n + 3] = 'r' end
local olds = pair_call('HMGET', h, wanted)
local lives, extra = {}, 0
for j = 1, n do
  lives[j] = live_meta(olds[j] or nil, now)
  if not lives[j] then extra = extra + 1 end
end
if extra > 0 then
  local err = scope_full(x, now, extra, tonumber(ARGV[2]))
  if err then return err end
end
local e, low, dead = scope_settle(h, x, olds[n + 1], olds[n + 2], now, true, log ~= nil)
local expiry = write_expiry(now, ttl_ms, '0', nil)
local stamp = fmt_int(expiry)
local fields, index, lowered = {}, {}, false
for j = 1, n do
  local key = ARGV[3 * j]
  local meta, was = scope_meta(ARGV[3 * j + 1], expiry, now_us, olds[j] or nil, lives[j])
  if was ~= expiry then
    index[#index + 1] = stamp
    index[#index + 1] = key
  end
  if was and e and was == e and expiry < was then lowered = true end
  fields[#fields + 1] = 'd:' .. key
  fields[#fields + 1] = ARGV[3 * j + 2]
  fields[#fields + 1] = 'm:' .. key
  fields[#fields + 1] = meta
end
pair_call('ZADD', x, index)
local target = pair_target(x, e, expiry, lowered)
if target ~= e then
  fields[#fields + 1] = 'e'
  fields[#fields + 1] = fmt_int(target)
end
if not low or expiry < low then low = expiry end
if not olds[n + 2] or low ~= olds[n + 2] + 0 then
  fields[#fields + 1] = 'n'
  fields[#fields + 1] = fmt_int(low)
end
pair_call('HSET', h, fields)
pair_expire(h, x, e, target, false)
if log then
  local _, created = ev_expired(log, ARGV, 'v', dead)
  for j = 1, n do  -- fields[4j]: the j-th key's meta
    created = ev_write(log, ARGV, 'set', 'v', ARGV[3 * j], string.sub(fields[4 * j], 18),
      ARGV[3 * j + 1], ARGV[3 * j + 2]) or created
  end
  ev_scope_done(h, log, ARGV, olds[n + 3], now, created)
end
return n
