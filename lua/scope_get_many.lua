-- scope_get_many: read several keys of a scope at once.
-- KEYS[1] H
-- ARGV[1..n] keys (strings; n is capped by the client)
-- Reply: flat array {meta1, payload1, meta2, payload2, ...}; "" and "" for an absent key.
-- Cost: O(n). Read only.
-- Flags: no-writes
local h = KEYS[1]
local now = scope_now()
local fields = {}
for i = 1, #ARGV do
  fields[2 * i - 1] = 'm:' .. ARGV[i]
  fields[2 * i] = 'd:' .. ARGV[i]
end
if #fields == 0 then return {} end
local r = redis.call('HMGET', h, unpack(fields))
for i = 1, #r, 2 do
  if not live_meta(r[i], now) or not r[i + 1] then
    r[i], r[i + 1] = '', ''
  end
end
return r
