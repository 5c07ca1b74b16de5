-- history_threads: a page of a scope's live threads, most recently written first.
-- KEYS[1] TA  KEYS[2] TX
-- ARGV[1] offset (>= 0)  ARGV[2] count (> 0, capped by the client)
-- Reply: flat array {thread id, last write ms, expiry ms, ...} (expiry NOEXP: never).
-- Cost: O(log T + count), plus O(E) for E expired threads purged (E <= the cap).
-- Flags: idempotent
local ta, tx = KEYS[1], KEYS[2]
local offset, count = tonumber(ARGV[1]), tonumber(ARGV[2])
local now = clock()
local dead = redis.call('ZRANGEBYSCORE', tx, '-inf', fmt_int(now))
if #dead > 0 then
  call_chunked('ZREM', ta, dead)
  redis.call('ZREMRANGEBYSCORE', tx, '-inf', fmt_int(now))
  shrink_scope(ta, tx)
end
local page = redis.call('ZREVRANGE', ta, offset, offset + count - 1, 'WITHSCORES')
local out = {}
for i = 1, #page, 2 do
  out[#out + 1] = page[i]
  out[#out + 1] = page[i + 1]
  out[#out + 1] = redis.call('ZSCORE', tx, page[i]) or fmt_int(NOEXP)
end
return out
