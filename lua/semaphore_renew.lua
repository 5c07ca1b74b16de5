-- semaphore_renew: extend a live lease to now + lease, for a holder that needs longer.
-- KEYS[1] zset: holder token -> lease expiry (ms since the epoch)
-- ARGV[1] token  ARGV[2] lease (ms)
-- Reply: 1 when renewed, 0 when the lease had expired or was released (the slot may be
--   someone else's by now: the holder must stop, or acquire again). A renewal never
--   shortens a lease. Cost: O(log N).
-- Flags: idempotent
local z = KEYS[1]
local token, lease = ARGV[1], tonumber(ARGV[2])
local now = clock()
local expiry = tonumber(redis.call('ZSCORE', z, token))
if not expiry or expiry <= now then return 0 end
local renewed = fmt_int(now + lease)
redis.call('ZADD', z, 'XX', 'GT', renewed, token)
redis.call('PEXPIREAT', z, renewed, 'GT')
return 1
