-- context_resolve: find a key in the first scope, most specific first, that holds it live.
-- KEYS[i] H of the i-th scope, in precedence order
-- ARGV[1] key  ARGV[2] with value ("1": return the payload, "0": only say where)
-- Reply: {i, meta, payload} for the first scope holding the key ({i, meta} without value),
-- or nil when none does. Cost: O(S) for S scopes (S <= 8). Read only.
-- Flags: no-writes
local key, with_value = ARGV[1], ARGV[2]
local now = scope_now()
local mfield, dfield = 'm:' .. key, 'd:' .. key
for i = 1, #KEYS do
  if with_value == '1' then
    local r = redis.call('HMGET', KEYS[i], mfield, dfield)
    if live_meta(r[1], now) then return {i, r[1], r[2]} end
  elseif live_meta(redis.call('HGET', KEYS[i], mfield), now) then
    return {i, 'x'}
  end
end
return false
