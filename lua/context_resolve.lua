-- context_resolve: find a key in the first scope, most specific first, that holds it live.
-- KEYS[2i-1] H, KEYS[2i] X of the i-th scope, in precedence order
-- ARGV[1] key  ARGV[2] with value ("1": return the payload, "0": only say where)
-- Reply: {i, meta, payload} for the first scope holding the key ({i, meta, ""} without
-- value), or nil when none does. Cost: O(S log N) for S scopes (S <= 8). Read only.
local key, with_value = ARGV[1], ARGV[2]
local now = now_ms()
for i = 1, #KEYS, 2 do
  local h, x = KEYS[i], KEYS[i + 1]
  if live_expiry(x, key, now) then
    local meta = redis.call('HGET', h, 'm:' .. key)
    if meta then
      local payload = ''
      if with_value == '1' then payload = redis.call('HGET', h, 'd:' .. key) end
      return {(i + 1) / 2, meta, payload}
    end
  end
end
return false
