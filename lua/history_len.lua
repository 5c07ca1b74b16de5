-- history_len: the number of turns in a thread.
-- KEYS[1] L
-- ARGV: none
-- Reply: integer. Cost: O(1). Read only.
-- The client sends this as a plain command (see pyredmem/_ops/history.py).
-- Flags: no-writes
return redis.call('LLEN', KEYS[1])
