-- scope_set_many: store several values in a scope, all or nothing.
-- KEYS[1] H  KEYS[2] X
-- ARGV[1] ttl in ms (0: never expires)  ARGV[2] max keys in the scope
-- ARGV[3..] triples: key, type ("m"|"i"|"f"), payload (count capped by the client)
-- Reply: number of keys written. Errors: PM_FULL (nothing written).
-- Cost: O(n log N + E).
local h, x = KEYS[1], KEYS[2]
local ttl_ms = tonumber(ARGV[1])
local max_keys = tonumber(ARGV[2])
local now = now_ms()
purge_expired(h, x, now)
local extra = 0
local seen = {}
for i = 3, #ARGV, 3 do
  local key = ARGV[i]
  if not seen[key] and not live_expiry(x, key, now) then extra = extra + 1 end
  seen[key] = true
end
local full = check_capacity(x, extra, max_keys)
if full then return full end
local expiry = write_expiry(now, ttl_ms, '0', nil)
local n = 0
for i = 3, #ARGV, 3 do
  write_entry(h, x, ARGV[i], ARGV[i + 1], ARGV[i + 2], expiry)
  n = n + 1
end
refresh_scope_expiry(h, x)
return n
