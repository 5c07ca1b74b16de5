-- history_messages: the longest run of most recent turns within both limits, oldest first,
-- and whether the thread's sliding expiry is due to be re-armed (it has run down by more
-- than 1/REARM_SLACK of the ttl, or is missing): the client then sends history_touch. A read
-- never writes, so it runs during a write pause and on replicas.
-- KEYS[1] L
-- ARGV[1] last (turns; 0: no limit)  ARGV[2] max tokens (0: no limit)
-- ARGV[3] sliding ttl in ms (0: leave the expiry alone)
-- ARGV[4] "1": join the entries (for bodies that delimit themselves, as msgpack's do)
-- Reply: {due (1|0), then the turn entries, oldest first: each, or joined, count and bytes}
--   (joined: one string for Redis to copy out of Lua instead of one per entry).
-- Cost: O(R + 32) for R turns returned, whatever the thread's length (see thread_tail).
-- Flags: no-writes
local l = KEYS[1]
local last, budget, ttl_ms = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])

local entries = thread_tail(l, last, budget)

-- PTTL is the remaining time (-1: none, -2: no list), so the clock is not needed
local due = 0
if ttl_ms > 0 and #entries > 0 and must_rearm(redis.call('PTTL', l), 0, ttl_ms) then due = 1 end
if ARGV[4] == '1' then return {due, #entries, table.concat(entries)} end
table.insert(entries, 1, due)
return entries
