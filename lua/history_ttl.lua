-- history_ttl: remaining time to live of a thread.
-- KEYS[1] L
-- ARGV: none
-- Reply: remaining ms (>= 1), -1 when it never expires, -2 when it holds no turns.
-- Cost: O(1). Read only.
-- The client sends this as a plain command (see pyredmem/_ops/history.py).
-- Flags: no-writes
return redis.call('PTTL', KEYS[1])
