-- history_len: the number of turns in a thread.
-- KEYS[1] L
-- ARGV: none
-- Reply: integer. Cost: O(1). Read only.
return redis.call('LLEN', KEYS[1])
