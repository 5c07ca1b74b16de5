-- history_messages: the longest run of most recent turns within both limits, oldest first,
-- and whether the thread's sliding expiry is due to be re-armed (it has run down by more
-- than 1/REARM_SLACK of the ttl, or is missing): the client then sends history_touch. A read
-- never writes, so it runs during a write pause and on replicas.
-- KEYS[1] L
-- ARGV[1] last (turns; 0: no limit)  ARGV[2] max tokens (0: no limit)
-- ARGV[3] sliding ttl in ms (0: leave the expiry alone)
-- ARGV[4] "1": join the entries (for bodies that delimit themselves, as msgpack's do)
-- Reply: {due (1|0), then the turn entries, oldest first: each, or joined, count and bytes}
--   (joined: one string for Redis to copy out of Lua instead of one per entry).
-- Cost: O(R + 32) for R turns returned, whatever the thread's length: the budget walk reads
-- the list from the newest turn back in growing chunks (the first holds `last` turns, up
-- to 32), never past the `last` newest turns. The writes cap a thread's bytes, so R is too.
-- Flags: no-writes
local l = KEYS[1]
local last, budget, ttl_ms = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])

local entries
if budget == 0 then
  local first = 0  -- last = 0: the whole list
  if last > 0 then first = -last end
  entries = redis.call('LRANGE', l, first, -1)
else
  if last == 0 then last = -1 end  -- no limit: n never equals it
  -- walk back from the newest turn, chunk by chunk; of each chunk read, its newest k[c] fit
  local parts, k, n, used, got = {}, {}, 0, 0, 0
  local chunk = 32
  if last > 0 and last < chunk then chunk = last end
  local done = false
  while not done do
    local part = redis.call('LRANGE', l, -(got + chunk), -(got + 1))
    local fit = 0
    for i = #part, 1, -1 do
      local t = turn_tokens(part[i])
      if used + t > budget then
        done = true
        break
      end
      used, fit, n = used + t, fit + 1, n + 1
      if n == last then
        done = true
        break
      end
    end
    parts[#parts + 1], k[#k + 1] = part, fit
    got = got + #part
    if #part < chunk then done = true end
    if chunk < 1024 then chunk = chunk * 2 end
    if last > 0 and chunk > last - n then chunk = last - n end  -- no more than asked
  end
  if #parts == 1 and k[1] == #parts[1] then
    entries = parts[1]  -- the usual case: the first chunk read is the answer
  else
    entries = {}
    for c = #parts, 1, -1 do
      local part = parts[c]
      for i = #part - k[c] + 1, #part do entries[#entries + 1] = part[i] end
    end
  end
end

-- PTTL is the remaining time (-1: none, -2: no list), so the clock is not needed
local due = 0
if ttl_ms > 0 and #entries > 0 and must_rearm(redis.call('PTTL', l), 0, ttl_ms) then due = 1 end
if ARGV[4] == '1' then return {due, #entries, table.concat(entries)} end
table.insert(entries, 1, due)
return entries
