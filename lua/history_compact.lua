-- history_compact: replace the oldest turns of a thread with one summary turn, only if the
-- turns summarised are still the oldest (some of the oldest may have been evicted since:
-- then the rest of them is replaced). Turns appended meanwhile are kept.
-- KEYS[1] L  KEYS[2] I  KEYS[3] TA  KEYS[4] TX
-- KEYS[5] the scope's change log (only when the call logs events)
-- ARGV[1] thread id  ARGV[2] ttl in ms (0: never expires)  ARGV[3] max bytes of the thread
-- ARGV[4] summary id  ARGV[5] summary tokens  ARGV[6] summary entry after its first 10 bytes
-- ARGV[7] max tokens of the thread (0: no cap)
-- ARGV[8..] ids of the turns summarised, oldest first; then, with KEYS[5], the log's cap,
-- retention (ms) and "1" to log values (the last three)
-- Reply: {created ms, turns replaced}, or {0, 0} when the thread no longer starts with
-- (the rest of) those turns: nothing written. Errors: PM_INVALID (summary id taken, or the
-- thread would pass its byte or token cap: the next append would drop the summary at once);
-- nothing written.
-- Events (when replaced): "compact" (k: the thread, m: the summary's id; y "e", p: the
-- summary's entry, with values).
-- Cost: O(k) for k turns replaced, plus O(N) for the N turns held when I was evicted. With
-- events: one XADD and one PEXPIRE.
-- Flags: once
local l, ids, ta, tx, log = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local tid, ttl_ms, max_bytes = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local sid, stokens, max_tokens = ARGV[4], tonumber(ARGV[5]), tonumber(ARGV[7])
local k = #ARGV - 7
if log then k = k - 3 end
local pos = {}
for j = 1, k do pos[ARGV[7 + j]] = j end
local first = redis.call('LINDEX', l, 0)
local j = first and pos[turn_id(first)]
if not j then return {0, 0} end
local cur = redis.call('LRANGE', l, 0, k - j)
if #cur < k - j + 1 then return {0, 0} end
local gone, removed, removed_bytes = {}, 0, 0
for i = 1, #cur do
  gone[i] = turn_id(cur[i])
  if gone[i] ~= ARGV[7 + j + i - 1] then return {0, 0} end
  removed, removed_bytes = removed + turn_tokens(cur[i]), removed_bytes + #cur[i]
end
local now = clock()
local entry = turn_stamp(now) .. ARGV[6]
local totals, taken = unpack(redis.call('HMGET', ids, '', sid))
local tokens, bytes = thread_parse_totals(totals)
local rebuilt = false
if not tokens then  -- I was evicted: rebuilt from L (a write, but of what L implies)
  local known
  tokens, bytes, known = thread_rebuild(l, ids)
  taken, rebuilt = known[sid], true
end
if taken then
  return redis.error_reply('PM_INVALID the summary id is already in the thread')
end
bytes = bytes - removed_bytes + #entry
if bytes > max_bytes then
  return redis.error_reply('PM_INVALID the summary would pass the thread\'s byte cap')
end
tokens = tokens - removed + stokens
if max_tokens > 0 and tokens > max_tokens then
  return redis.error_reply('PM_INVALID the thread would hold ' .. fmt_int(tokens) ..
    ' tokens after the summary, more than its max_tokens=' .. ARGV[7])
end

local was = tonumber(redis.call('ZSCORE', tx, tid))
if was and was <= now then was = nil end
local fresh = not was and redis.call('ZCARD', tx) == 0
-- HSET first: a server at maxmemory (noeviction) refuses a script's first write when it may
-- grow memory, and then nothing is written
redis.call('HSET', ids, sid, '1', '', thread_fmt_totals(tokens, bytes))
redis.call('LTRIM', l, #cur, -1)
redis.call('LPUSH', l, entry)
call_chunked('HDEL', ids, gone)
thread_written(l, ids, ta, tx, tid, now, ttl_ms, was, fresh, rebuilt)
if log then
  if ev_values(ARGV) then
    ev_add(log, ARGV, 'o', 'compact', 'w', 't', 'k', tid, 'm', sid, 'y', 'e', 'p', entry)
  else
    ev_add(log, ARGV, 'o', 'compact', 'w', 't', 'k', tid, 'm', sid)
  end
  ev_done(log, ARGV)
end
return {now, #cur}
