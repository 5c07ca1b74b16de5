-- scope_get_many: read several keys of a scope at once.
-- KEYS[1] H  KEYS[2] X
-- ARGV[1..n] keys (strings; n is capped by the client)
-- Reply: flat array {meta1, payload1, meta2, payload2, ...}; "" and "" for an absent key.
-- Cost: O(n log N). Read only.
local h, x = KEYS[1], KEYS[2]
local now = now_ms()
local out = {}
for i = 1, #ARGV do
  local key = ARGV[i]
  local meta, payload = '', ''
  if live_expiry(x, key, now) then
    local r = redis.call('HMGET', h, 'm:' .. key, 'd:' .. key)
    if r[1] and r[2] then meta, payload = r[1], r[2] end
  end
  out[#out + 1] = meta
  out[#out + 1] = payload
end
return out
