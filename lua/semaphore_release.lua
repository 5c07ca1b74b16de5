-- semaphore_release: give a slot back.
-- KEYS[1] zset: holder token -> lease expiry (ms since the epoch)
-- ARGV[1] token
-- Reply: 1 when the token held a live lease, 0 when it had expired or was released before.
-- The expired leases (this one's too, if it has run out) are dropped first, so the ZREM
-- that follows removes only a live lease: its count is the reply. Removing the last entry
-- deletes the key; otherwise its TTL stays as it was, at most the longest lease granted
-- (shortening it to the latest live lease would take two more commands).
-- Cost: O(log N + E) for E expired leases dropped on the way: TIME, ZREMRANGEBYSCORE, ZREM.
-- Flags: idempotent allow-oom
local z = KEYS[1]
redis.call('ZREMRANGEBYSCORE', z, '-inf', fmt_int(clock()))
return redis.call('ZREM', z, ARGV[1])
