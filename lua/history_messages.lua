-- history_messages: the longest run of most recent turns within both limits, oldest first,
-- and whether the thread's sliding expiry is due to be re-armed (it has run down by more
-- than 1/REARM_SLACK of the ttl, or is missing): the client then sends history_touch. A read
-- never writes, so it runs during a write pause and on replicas. (A read without a sliding
-- expiry, and without a token budget or with one the client applies, is a plain LRANGE.)
-- KEYS[1] L
-- ARGV[1] last (turns; 0: no limit)  ARGV[2] max tokens (0: no limit)
-- ARGV[3] sliding ttl in ms (0: leave the expiry alone)
-- Reply: {the turn entries, oldest first..., due (1|0)}: the entries as LRANGE gives them,
--   each its own string (cheaper for the server than joining them in Lua).
-- Cost: O(R + 32) for R turns returned, whatever the thread's length (see thread_tail).
-- Flags: no-writes
local l = KEYS[1]
local ttl_ms = tonumber(ARGV[3])
local entries = thread_tail(l, tonumber(ARGV[1]), tonumber(ARGV[2]))

-- PTTL is the remaining time (-1: none, -2: no list), so the clock is not needed. A thread
-- that is there slides even when no turn fits the budget (its newest is over it).
local n = #entries
entries[n + 1] = 0
if ttl_ms > 0 then
  local left = redis.call('PTTL', l)
  if left ~= -2 and must_rearm(left, 0, ttl_ms) then entries[n + 1] = 1 end
end
return entries
