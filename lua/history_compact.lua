-- history_compact: replace the oldest turns of a thread with one summary turn, only if the
-- turns summarised are still the oldest (some of the oldest may have been evicted since:
-- then the rest of them is replaced). Turns appended meanwhile are kept.
-- KEYS[1] L  KEYS[2] I  KEYS[3] TA  KEYS[4] TX
-- ARGV[1] thread id  ARGV[2] ttl in ms (0: never expires)
-- ARGV[3] summary id  ARGV[4] summary tokens  ARGV[5] summary entry after its first 10 bytes
-- ARGV[6..] ids of the turns summarised, oldest first
-- Reply: {created ms, turns replaced}, or {0, 0} when the thread no longer starts with
-- (the rest of) those turns: nothing written. Errors: PM_INVALID (summary id taken).
-- Cost: O(k) for k turns replaced.
-- Flags: once
local l, ids, ta, tx = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local tid, ttl_ms = ARGV[1], tonumber(ARGV[2])
local sid, stokens = ARGV[3], tonumber(ARGV[4])
local k = #ARGV - 5
local pos = {}
for j = 1, k do pos[ARGV[5 + j]] = j end
local first = redis.call('LINDEX', l, 0)
local j = first and pos[turn_id(first)]
if not j then return {0, 0} end
local cur = redis.call('LRANGE', l, 0, k - j)
if #cur < k - j + 1 then return {0, 0} end
local gone, removed = {}, 0
for i = 1, #cur do
  gone[i] = turn_id(cur[i])
  if gone[i] ~= ARGV[5 + j + i - 1] then return {0, 0} end
  removed = removed + turn_tokens(cur[i])
end
if redis.call('HEXISTS', ids, sid) == 1 then
  return redis.error_reply('PM_INVALID the summary id is already in the thread')
end

local now = clock()
local was = tonumber(redis.call('ZSCORE', tx, tid))
redis.call('LTRIM', l, #cur, -1)
call_chunked('HDEL', ids, gone)
redis.call('LPUSH', l, turn_stamp(now) .. ARGV[5])
redis.call('HSET', ids, sid, '1')
redis.call('HINCRBY', ids, '', stokens - removed)
-- TA first: touch_thread sets the index's expiry, which needs both keys to exist
redis.call('ZADD', ta, fmt_int(now), tid)
touch_thread(l, ids, ta, tx, tid, now, ttl_ms, was, false)
return {now, #cur}
