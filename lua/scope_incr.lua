-- scope_incr: add to a numeric value atomically (a missing key counts as 0).
-- KEYS[1] H  KEYS[2] X
-- ARGV[1] key  ARGV[2] amount type ("i"|"f")  ARGV[3] amount (integer or float text)
-- ARGV[4] ttl in ms applied only when the key is created (0: never expires)
-- ARGV[5] max keys in the scope
-- Reply: {meta, payload} of the new value. Errors: PM_WRONGTYPE, PM_OVERFLOW, PM_FULL.
-- Cost: O(log N + E).
local h, x = KEYS[1], KEYS[2]
local key, atype, amount = ARGV[1], ARGV[2], ARGV[3]
local ttl_ms = tonumber(ARGV[4])
local max_keys = tonumber(ARGV[5])
local now = now_ms()
purge_expired(h, x, now)
local current = live_expiry(x, key, now)
local ctype = nil
if current then
  ctype = string.sub(redis.call('HGET', h, 'm:' .. key), 1, 1)
  if ctype == 'm' then
    return redis.error_reply('PM_WRONGTYPE the value is not a number')
  end
else
  local full = check_capacity(x, 1, max_keys)
  if full then return full end
end
local vtype, payload
if (ctype == nil or ctype == 'i') and atype == 'i' then
  vtype = 'i'
  if current then
    local r = redis.pcall('HINCRBY', h, 'd:' .. key, amount)
    if type(r) == 'table' then
      return redis.error_reply('PM_OVERFLOW the result does not fit in 64 bits')
    end
    payload = redis.call('HGET', h, 'd:' .. key)
  else
    payload = amount
  end
else
  vtype = 'f'
  local base = 0
  if current then base = tonumber(redis.call('HGET', h, 'd:' .. key)) end
  local v = base + tonumber(amount)
  if v ~= v or v == math.huge or v == -math.huge then
    return redis.error_reply('PM_OVERFLOW the result is not a finite float')
  end
  payload = string.format('%.17g', v)
end
local version = write_entry(h, x, key, vtype, payload, write_expiry(now, ttl_ms, '1', current))
refresh_scope_expiry(h, x)
return {vtype .. version, payload}
