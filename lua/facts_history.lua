-- facts_history: every version of (subject, predicate), in recording order.
-- KEYS[1] F  KEYS[2] I  (see the facts layout in _prelude.lua)
-- ARGV[1] subject  ARGV[2] predicate
-- Reply: {versions, claims}: versions flat {id, valid_from, valid_to, recorded_from,
-- recorded_to ("": still believed), claim id, ...}; claims flat {claim id, object, source,
-- confidence, ...} ("" when absent) for each claim the versions point at.
-- Cost: O(log N + V) for the V versions of the pair (V <= its cap). Read only.
-- Flags: no-writes
local f, i = KEYS[1], KEYS[2]
local pre = 'r\0' .. ARGV[1] .. '\0' .. ARGV[2] .. '\0'
local all = redis.call('ZRANGE', i, '[' .. pre, '[' .. pre .. '\255', 'BYLEX')
local versions, ends, claims, fields = {}, {}, {}, {}
for j = 1, #all do
  local id, vf, vt, rf, did = string.match(string.sub(all[j], #pre + 1),
    '^(%d+) (%d+) (%d+) (%d+) (%d+) ')
  local n = #versions
  versions[n + 1], versions[n + 2], versions[n + 3], versions[n + 4] = id, vf, vt, rf
  versions[n + 5], versions[n + 6] = '', did
  ends[j] = 'e:' .. id
  if not claims[did] then
    claims[did] = true
    fields[#fields + 1] = did
  end
end
if #all == 0 then return {{}, {}} end
local rt = pair_call('HMGET', f, ends)
for j = 1, #all do
  if rt[j] then versions[6 * j - 1] = rt[j] end
end
local data = {}
for j = 1, #fields do
  local did = fields[j]
  local d = redis.call('HMGET', f, 'd:' .. did, 's:' .. did, 'q:' .. did)
  data[#data + 1] = did
  data[#data + 1] = d[1] or ''
  data[#data + 1] = d[2] or ''
  data[#data + 1] = d[3] or ''
end
return {versions, data}
