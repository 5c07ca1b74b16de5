-- semaphore_acquire: take one of `limit` slots for a key, leased until now + lease.
-- KEYS[1] zset: holder token -> lease expiry (ms since the epoch)
-- ARGV[1] token (unique per acquisition)  ARGV[2] limit (holders)  ARGV[3] lease (ms)
-- Reply: {1, holders} when acquired (holders including this one), or
--   {0, holders, ms until the earliest lease expires} when every slot is taken.
-- Only live leases (expiry > now) count; an acquire drops the expired ones (holders that
-- crashed or overran), a denial writes nothing. The key's TTL is at least its latest
-- lease's (a release leaves it, see semaphore_release): PEXPIREAT GT keeps the later of the
-- two, a plain PEXPIREAT when no lease is live.
-- The first write is the ZADD, which a server at maxmemory (noeviction) refuses before
-- anything is written: once a script has written, Redis lets its later writes through.
-- Cost: O(log N + E) for E expired leases; N <= limit. TIME, ZCOUNT, ZADD,
-- ZREMRANGEBYSCORE and PEXPIREAT; a denial: TIME, ZCOUNT and ZRANGEBYSCORE.
-- Flags: once
local z = KEYS[1]
local now = clock()
local at = fmt_int(now)
local live = '(' .. at
local n = redis.call('ZCOUNT', z, live, '+inf')
if n >= tonumber(ARGV[2]) then
  local first = redis.call('ZRANGEBYSCORE', z, live, '+inf', 'WITHSCORES', 'LIMIT', 0, 1)
  return {0, n, fmt_int(first[2] - now)}
end
local expiry = fmt_int(now + ARGV[3])
redis.call('ZADD', z, expiry, ARGV[1])
redis.call('ZREMRANGEBYSCORE', z, '-inf', at)
if n > 0 then
  redis.call('PEXPIREAT', z, expiry, 'GT')
else
  redis.call('PEXPIREAT', z, expiry)
end
return {1, n + 1}
