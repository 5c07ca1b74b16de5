-- history_threads: a page of a scope's live threads (their TX score is after now), most
-- recently written first. Expired threads are skipped here and purged by the next write
-- that adds a thread, so a listing never writes.
-- KEYS[1] TA  KEYS[2] TX
-- ARGV[1] offset (>= 0, capped by the client)  ARGV[2] count (> 0, capped by the client)
-- Reply: flat array {thread id, last write ms, expiry ms, ...} (expiry NOEXP: never).
-- Cost: O(log T + offset + count + E) for E expired threads not yet purged (T, E <= the cap),
-- read in chunks of at most 1000.
-- Flags: no-writes
local ta, tx = KEYS[1], KEYS[2]
local skip, count = tonumber(ARGV[1]), tonumber(ARGV[2])
local now = clock()
local out, pos = {}, 0
local chunk = math.min(skip + count, 1000)
while true do
  local page = redis.call('ZREVRANGE', ta, fmt_int(pos), fmt_int(pos + chunk - 1), 'WITHSCORES')
  if #page == 0 then break end
  local names = {}
  for i = 1, #page, 2 do names[#names + 1] = page[i] end
  local expiry = redis.call('ZMSCORE', tx, unpack(names))
  for j = 1, #names do
    local at = expiry[j]
    if at and tonumber(at) > now then
      if skip > 0 then
        skip = skip - 1
      else
        local n = #out
        out[n + 1], out[n + 2], out[n + 3] = names[j], page[2 * j], at
        if n + 3 == 3 * count then return out end
      end
    end
  end
  if #page < 2 * chunk then break end
  pos = pos + chunk
  chunk = 1000
end
return out
