-- scope_set_many: store several values in a scope, all or nothing.
-- KEYS[1] H  KEYS[2] X
-- ARGV[1] ttl in ms (0: never expires)  ARGV[2] max keys in the scope
-- ARGV[3..] triples: key, type ("m"|"i"|"f"), payload (distinct keys; count capped by the
-- client)
-- Reply: number of keys written. Errors: PM_FULL (nothing written).
-- Cost: O(n log N + E).
-- Flags: idempotent
local h, x = KEYS[1], KEYS[2]
local ttl_ms = tonumber(ARGV[1])
local now, now_us = clock()
local olds, lives = {}, {}
local extra = 0
for i = 3, #ARGV, 3 do
  local old = redis.call('HGET', h, 'm:' .. ARGV[i])
  olds[i], lives[i] = old, live_meta(old, now)
  if not lives[i] then extra = extra + 1 end
end
local fresh = false
if extra > 0 then
  local err
  fresh, err = make_room(h, x, now, extra, tonumber(ARGV[2]))
  if err then return err end
end
local expiry = write_expiry(now, ttl_ms, '0', nil)
local n, shortest = 0, nil
for i = 3, #ARGV, 3 do
  local _, was = write_entry(h, x, ARGV[i], ARGV[i + 1], ARGV[i + 2], expiry, now_us,
    olds[i], lives[i])
  if not was then was = -1 end
  if not shortest or was < shortest then shortest = was end
  n = n + 1
end
-- one extension covers every entry: skipped only if each was already live at >= expiry
if n > 0 then extend_scope(h, x, expiry, shortest >= 0 and shortest or nil, fresh) end
return n
