-- semaphore_acquire: take one of `limit` slots for a key, leased until now + lease.
-- KEYS[1] zset: holder token -> lease expiry (ms since the epoch)
-- ARGV[1] token (unique per acquisition)  ARGV[2] limit (holders)  ARGV[3] lease (ms)
-- Reply: {1, holders} when acquired (holders including this one), or
--   {0, holders, ms until the earliest lease expires} when every slot is taken.
-- Only live leases (expiry > now) count; an acquire drops the expired ones (holders that
-- crashed or overran), a denial writes nothing. The key expires with its last lease.
-- The first write is the ZADD, which a server at maxmemory (noeviction) refuses before
-- anything is written: once a script has written, Redis lets its later writes through.
-- Cost: O(log N + E) for E expired leases; N <= limit.
-- Flags: once
local z = KEYS[1]
local token, limit, lease = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local now = clock()
local live = '(' .. fmt_int(now)
local n = redis.call('ZCOUNT', z, live, '+inf')
if n >= limit then
  local first = redis.call('ZRANGEBYSCORE', z, live, '+inf', 'WITHSCORES', 'LIMIT', 0, 1)
  return {0, n, fmt_int(tonumber(first[2]) - now)}
end
redis.call('ZADD', z, fmt_int(now + lease), token)
redis.call('ZREMRANGEBYSCORE', z, '-inf', fmt_int(now))
local last = tonumber(redis.call('ZRANGE', z, -1, -1, 'WITHSCORES')[2])
redis.call('PEXPIREAT', z, fmt_int(last))
return {1, n + 1}
