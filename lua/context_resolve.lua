-- context_resolve: find a key in the first scope, most specific first, that holds it live.
-- KEYS[i] H of the i-th scope, in precedence order
-- ARGV[1] key  ARGV[2] with value ("1": return the payload, "0": only say where)
-- Reply: {i, meta, payload} for the first scope holding the key ({i, meta} without value),
-- or nil when none does. Cost: O(S) for S scopes (S <= 8): an HMGET (HGET) per scope
-- until one holds the key, and TIME once, only when a key found there has an expiry.
-- Read only.
-- Flags: no-writes
local key, with_value = ARGV[1], ARGV[2]
local now, live = nil, false
local mfield, dfield = 'm:' .. key, 'd:' .. key
for i = 1, #KEYS do
  if with_value == '1' then
    local r = redis.call('HMGET', KEYS[i], mfield, dfield)
    if r[1] then
      live, now = read_live(r[1], now)
      if live then return {i, r[1], r[2]} end
    end
  else
    local meta = redis.call('HGET', KEYS[i], mfield)
    if meta then
      live, now = read_live(meta, now)
      if live then return {i, 'x'} end
    end
  end
end
return false
