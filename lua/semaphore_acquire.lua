-- semaphore_acquire: take one of `limit` slots for a key, leased until now + lease.
-- KEYS[1] zset: holder token -> lease expiry (ms since the epoch)
-- ARGV[1] token (unique per acquisition)  ARGV[2] limit (holders)  ARGV[3] lease (ms)
-- Reply: {1, holders} when acquired (holders including this one), or
--   {0, holders, ms until the earliest lease expires} when every slot is taken.
-- Expired leases (holders that crashed or overran) are dropped first. The key expires with
-- its last lease. Cost: O(log N + E) for E expired leases; N <= limit.
-- Flags: once
local z = KEYS[1]
local token, limit, lease = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local now = clock()
redis.call('ZREMRANGEBYSCORE', z, '-inf', fmt_int(now))
local n = redis.call('ZCARD', z)
if n >= limit and not redis.call('ZSCORE', z, token) then
  local first = redis.call('ZRANGE', z, 0, 0, 'WITHSCORES')
  return {0, n, fmt_int(tonumber(first[2]) - now)}
end
local expiry = now + lease
redis.call('ZADD', z, fmt_int(expiry), token)
local last = tonumber(redis.call('ZRANGE', z, -1, -1, 'WITHSCORES')[2])
redis.call('PEXPIREAT', z, fmt_int(last))
return {1, redis.call('ZCARD', z)}
