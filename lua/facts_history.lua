-- facts_history: every version of (subject, predicate), in recording order.
-- KEYS[1] F  KEYS[2] I  (see the facts layout in _prelude.lua)
-- ARGV[1] subject  ARGV[2] predicate
-- Reply: {versions, claims}: versions flat {id, valid_from, valid_to, recorded_from,
-- recorded_to ("": still believed), claim id, ...}; claims flat {claim id, object, source,
-- confidence, ...} ("" when absent) for each claim the versions point at.
-- Cost: O(log N + V) for the V versions of the pair (V <= its cap): a lex range and two
-- HMGETs. Read only.
-- Flags: no-writes
local f, i = KEYS[1], KEYS[2]
local s, p = ARGV[1], ARGV[2]
local head = redis.call('HGET', f, 'h:' .. s .. '\0' .. p)
if not head then return {{}, {}} end
local all = fact_versions(f, i, s, p, fact_head(head))
table.sort(all, function(x, y) return x.id < y.id end)
local versions, seen, claims = {}, {}, {}
for j = 1, #all do
  local c = all[j]
  local n = #versions
  versions[n + 1], versions[n + 2], versions[n + 3] = c.id, c.vf, c.vt
  versions[n + 4], versions[n + 5], versions[n + 6] = c.rf, c.rt or '', c.did
  if not seen[c.did] then
    seen[c.did] = true
    claims[#claims + 1] = c.did
  end
end
local fields = {}
for j = 1, #claims do
  local did = claims[j]
  fields[#fields + 1], fields[#fields + 2], fields[#fields + 3] = 'd:' .. did, 's:' .. did,
    'q:' .. did
end
local got = fact_call('HMGET', f, fields)
local data = {}
for j = 1, #claims do
  data[#data + 1] = claims[j]
  data[#data + 1] = got[3 * j - 2] or ''
  data[#data + 1] = got[3 * j - 1] or ''
  data[#data + 1] = got[3 * j] or ''
end
return {versions, data}
