-- limiter_reset: forget what a limited subject has consumed.
-- KEYS[1]: the subject's key (gcra TAT, fixed windows or sliding log)
-- ARGV: none
-- Reply: 1 when anything was stored, else 0. Cost: O(E) for E log entries.
-- Flags: idempotent allow-oom
if redis.call('DEL', KEYS[1]) > 0 then return 1 end
return 0
