-- history_append: add turns to a thread, skipping message ids it already holds, then drop
-- the oldest turns beyond the caps (never the newest), set the thread's expiry and record
-- its last write.
-- KEYS[1] L  KEYS[2] B  KEYS[3] TA  KEYS[4] TX  (see the history layout in _prelude.lua)
-- ARGV[1] thread id  ARGV[2] max turns (> 0)  ARGV[3] max tokens (0: no cap)
-- ARGV[4] ttl in ms (0: never expires)  ARGV[5] return evicted turns ("1"|"0")
-- ARGV[6] max threads in the scope
-- ARGV[7..] triples: message id, tokens (integer >= 0), body (count capped by the client)
-- Reply: {created ms, flags, evicted count, evicted entries, evicted bodies}: flags has one
-- "1" (appended) or "0" (id already there) per message; the evicted arrays, oldest first,
-- are empty unless asked for. Errors: PM_FULL (nothing written).
-- Cost: O(n + evicted), plus O(E) expired threads purged when the thread is new.
local l, b, ta, tx = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local tid = ARGV[1]
local max_turns, max_tokens = tonumber(ARGV[2]), tonumber(ARGV[3])
local ttl_ms, want = tonumber(ARGV[4]), ARGV[5] == '1'
local now = clock()
local was, fresh, err = thread_room(ta, tx, tid, now, tonumber(ARGV[6]))
if err then return err end

local stamp = ':' .. fmt_int(now) .. ':'
local flags, pushed, added = {}, {}, 0
for i = 7, #ARGV, 3 do
  if redis.call('HSETNX', b, ARGV[i], ARGV[i + 2]) == 1 then
    pushed[#pushed + 1] = ARGV[i + 1] .. stamp .. ARGV[i]
    added = added + tonumber(ARGV[i + 1])
    flags[#flags + 1] = '1'
  else
    flags[#flags + 1] = '0'
  end
end
local len
if #pushed > 0 then
  len = redis.call('RPUSH', l, unpack(pushed))
else
  len = redis.call('LLEN', l)
end
local total = tonumber(redis.call('HINCRBY', b, '', added))

-- how many of the oldest turns go: those beyond max turns, then while over the budget
local drop = math.max(len - max_turns, 0)
if max_tokens > 0 and drop < len - 1 then
  local start, done = 0, false
  local over = total
  if drop > 0 then
    local gone = redis.call('LRANGE', l, 0, drop - 1)
    for i = 1, #gone do over = over - turn_tokens(gone[i]) end
  end
  start = drop
  while over > max_tokens and drop < len - 1 and not done do
    local chunk = redis.call('LRANGE', l, start, start + 63)
    for i = 1, #chunk do
      if over <= max_tokens or drop >= len - 1 then break end
      over = over - turn_tokens(chunk[i])
      drop = drop + 1
    end
    start = start + 64
    done = #chunk < 64
  end
end

local evicted, bodies = {}, {}
if drop > 0 then
  local gone = redis.call('LPOP', l, drop)
  local ids, removed = {}, 0
  for i = 1, #gone do
    ids[i] = turn_id(gone[i])
    removed = removed + turn_tokens(gone[i])
  end
  if want then
    evicted = gone
    for i = 1, #ids, 1000 do
      local part = redis.call('HMGET', b, unpack(ids, i, math.min(i + 999, #ids)))
      for j = 1, #part do bodies[#bodies + 1] = part[j] or '' end
    end
  end
  call_chunked('HDEL', b, ids)
  redis.call('HINCRBY', b, '', -removed)
end

-- TA first: touch_thread sets the index's expiry, which needs both keys to exist
redis.call('ZADD', ta, fmt_int(now), tid)
touch_thread(l, b, ta, tx, tid, now, ttl_ms, was, fresh)
return {now, table.concat(flags), drop, evicted, bodies}
