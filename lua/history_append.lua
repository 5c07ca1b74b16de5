-- history_append: add turns to a thread, skipping message ids it already holds, then drop
-- the oldest turns beyond the caps (never the newest), record its last write and slide its
-- expiry (re-armed only once it has run down by more than 1/REARM_SLACK of the ttl).
-- KEYS[1] L  KEYS[2] I  KEYS[3] TA  KEYS[4] TX  (see the history layout in _prelude.lua)
-- ARGV[1] thread id  ARGV[2] max turns (> 0)  ARGV[3] max tokens (0: no cap)
-- ARGV[4] ttl in ms (0: never expires)  ARGV[5] return evicted turns ("1"|"0")
-- ARGV[6] max threads in the scope
-- ARGV[7..] triples: message id, tokens (integer >= 0), the entry after its first 10 bytes
--   (see the history layout; count capped by the client)
-- Reply: {created ms, flags, evicted count, evicted entries...}: flags has one "1"
-- (appended) or "0" (id already there) per message; the evicted entries, oldest first, follow
-- only when asked for (a flat array: cheaper to convert than a nested one).
-- Errors: PM_FULL (nothing written).
-- Cost: O(n + evicted), plus O(E) expired threads purged when the thread is new.
-- Flags: idempotent
local l, ids, ta, tx = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local tid = ARGV[1]
local max_turns, max_tokens = tonumber(ARGV[2]), tonumber(ARGV[3])
local ttl_ms, want = tonumber(ARGV[4]), ARGV[5] == '1'
local now = clock()
local was, fresh, err = thread_room(ta, tx, tid, now, tonumber(ARGV[6]))
if err then return err end

local stamp = turn_stamp(now)
local flags, pushed, added = {}, {}, 0
for i = 7, #ARGV, 3 do
  local id = ARGV[i]
  if redis.call('HSETNX', ids, id, '1') == 1 then
    pushed[#pushed + 1] = stamp .. ARGV[i + 2]
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
-- the token total changes once (when there is no budget to check, after the evictions)
local pending, over = added, 0
if max_tokens > 0 then
  over = tonumber(redis.call('HINCRBY', ids, '', added))
  pending = 0
end

-- the oldest turns go: those beyond max turns, then more while over the budget
local drop = math.max(len - max_turns, 0)
local gone = {}
if max_tokens == 0 then
  if drop > 0 then gone = redis.call('LPOP', l, drop) end
else
  -- read the head in chunks, the first sized for what this append likely evicts, then trim
  local n, chunk = 0, drop + #pushed + 1
  while n < len - 1 and (n < drop or over > max_tokens) do
    local part = redis.call('LRANGE', l, n, n + chunk - 1)
    for i = 1, #part do
      if n >= len - 1 or (n >= drop and over <= max_tokens) then break end
      over = over - turn_tokens(part[i])
      n = n + 1
      gone[n] = part[i]
    end
    if #part < chunk then break end
    chunk = chunk * 2
  end
  drop = n
  if drop > 0 then redis.call('LTRIM', l, drop, -1) end
end

if drop > 0 then
  local gone_ids, removed = {}, 0
  for i = 1, #gone do
    gone_ids[i] = turn_id(gone[i])
    removed = removed + turn_tokens(gone[i])
  end
  call_chunked('HDEL', ids, gone_ids)
  pending = pending - removed
end
if pending ~= 0 then redis.call('HINCRBY', ids, '', pending) end

-- TA first: a re-armed expiry extends the index, which needs both keys to exist
redis.call('ZADD', ta, fmt_int(now), tid)
-- a list this append created has no expiry yet
if len == #pushed or must_rearm(was, now, ttl_ms) then
  touch_thread(l, ids, ta, tx, tid, now, ttl_ms, was, fresh)
end
local reply = {now, table.concat(flags), drop}
if want then
  for i = 1, #gone do reply[3 + i] = gone[i] end
end
return reply
