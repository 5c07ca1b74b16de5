-- scope_set_many: store several values in a scope, all or nothing.
-- KEYS[1] H  KEYS[2] X
-- ARGV[1] ttl in ms (0: never expires)  ARGV[2] max keys in the scope
-- ARGV[3..] triples: key, type ("m"|"i"|"f"), payload (distinct keys; count and bytes
-- capped by the client)
-- Reply: number of keys written. Errors: PM_FULL (nothing written).
-- Cost: O(n log N + E): one HMGET, ZADD and HSET for all n keys (per 1000 items), as
-- scope_set otherwise.
-- Flags: idempotent
local h, x = KEYS[1], KEYS[2]
local ttl_ms = tonumber(ARGV[1])
local now, now_us = clock()
local n = (#ARGV - 2) / 3
if n < 1 then return 0 end
local wanted = {}
for j = 1, n do wanted[j] = 'm:' .. ARGV[3 * j] end
wanted[n + 1] = 'e'
wanted[n + 2] = 'n'
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
local e, low = scope_settle(h, x, olds[n + 1], olds[n + 2], now, true)
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
return n
