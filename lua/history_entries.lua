-- history_entries: the oldest turns of a thread as stored (all, or the oldest `upto`): what
-- a fork with encryption reads, to seal each turn again for the new thread.
-- KEYS[1] L
-- ARGV[1] upto (turns; 0: all)
-- Reply: array of turn entries, oldest first. Cost: O(N) for N turns (capped on write).
-- Read only.
-- The client sends this as a plain command (see pyredmem/_ops/history.py).
-- Flags: no-writes
return redis.call('LRANGE', KEYS[1], 0, tonumber(ARGV[1]) - 1)
