-- scope_get_many: read several keys of a scope at once.
-- KEYS[1] H
-- ARGV[1..n] keys (strings; n is capped by the client)
-- Reply: flat array {meta1, payload1, meta2, payload2, ...}; "" and "" for an absent key.
-- Cost: O(n): HMGET, and TIME only when a key read has an expiry. Read only.
-- Flags: no-writes
local h = KEYS[1]
local now, live = nil, false
local fields = {}
for i = 1, #ARGV do
  fields[2 * i - 1] = 'm:' .. ARGV[i]
  fields[2 * i] = 'd:' .. ARGV[i]
end
if #fields == 0 then return {} end
local r = redis.call('HMGET', h, unpack(fields))
for i = 1, #r, 2 do
  if r[i] and r[i + 1] then live, now = read_live(r[i], now) else live = false end
  if not live then r[i], r[i + 1] = '', '' end
end
return r
