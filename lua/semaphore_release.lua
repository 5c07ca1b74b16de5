-- semaphore_release: give a slot back.
-- KEYS[1] zset: holder token -> lease expiry (ms since the epoch)
-- ARGV[1] token
-- Reply: 1 when the token held a live lease, 0 when it had expired or was released before.
-- Cost: O(log N + E) for E expired leases dropped on the way.
-- Flags: idempotent allow-oom
local z = KEYS[1]
local now = clock()
local expiry = redis.call('ZSCORE', z, ARGV[1])
redis.call('ZREMRANGEBYSCORE', z, '-inf', fmt_int(now))
if not expiry then return 0 end
redis.call('ZREM', z, ARGV[1])
if tonumber(expiry) <= now then return 0 end
local last = redis.call('ZRANGE', z, -1, -1, 'WITHSCORES')
if #last == 0 then
  redis.call('DEL', z)
else
  redis.call('PEXPIREAT', z, fmt_int(tonumber(last[2])))
end
return 1
