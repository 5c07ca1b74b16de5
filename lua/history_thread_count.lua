-- history_thread_count: the number of a scope's live threads.
-- KEYS[1] TA  KEYS[2] TX
-- ARGV: none
-- Reply: integer. Cost: O(log T). Read only.
-- Flags: no-writes
local now = clock()
return redis.call('ZCOUNT', KEYS[2], '(' .. fmt_int(now), '+inf')
