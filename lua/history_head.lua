-- history_head: the oldest turns of a thread, all but the newest `keep` (what a compaction
-- summarises).
-- KEYS[1] L  KEYS[2] B
-- ARGV[1] keep (turns, >= 0)
-- Reply: {entries, bodies}, oldest first. Cost: O(N) for N turns (capped on write). Read only.
local l, b = KEYS[1], KEYS[2]
local entries = redis.call('LRANGE', l, 0, -(tonumber(ARGV[1]) + 1))
local ids = {}
for i = 1, #entries do ids[i] = turn_id(entries[i]) end
local bodies = {}
for i = 1, #ids, 1000 do
  local part = redis.call('HMGET', b, unpack(ids, i, math.min(i + 999, #ids)))
  for j = 1, #part do bodies[#bodies + 1] = part[j] or '' end
end
return {entries, bodies}
