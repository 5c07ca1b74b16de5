-- limiter_reset: forget what a limited subject has consumed.
-- KEYS: the subject's keys (1 for gcra and fixed, 2 for sliding)
-- ARGV: none
-- Reply: 1 when anything was stored, else 0. Cost: O(E) for E log entries.
if redis.call('DEL', unpack(KEYS)) > 0 then return 1 end
return 0
