-- history_head: the oldest turns of a thread, all but the newest `keep` (what a compaction
-- summarises).
-- KEYS[1] L
-- ARGV[1] keep (turns, >= 0)
-- Reply: array of turn entries, oldest first. Cost: O(N) for N turns (capped on write).
-- Read only.
-- The client sends this as a plain command (see pyredmem/_ops/history.py).
-- Flags: no-writes
return redis.call('LRANGE', KEYS[1], 0, -(tonumber(ARGV[1]) + 1))
