-- facts_about: every predicate of `subject` with objects valid at world time `as_of`, as
-- believed at recording time `known_at`, each from the first scope (most specific first)
-- where it has any.
-- KEYS[2j - 1] F  KEYS[2j] I of the j-th scope, in precedence order (see the facts layout)
-- ARGV[1] subject  ARGV[2] as_of (world us + 2^52; "": now)  ARGV[3] known_at (us; "": now)
-- Reply: flat {j, predicate, cardinality, count, object x count, ...}, by scope then
-- predicate (text order).
-- Cost: per scope, one lex lookup per predicate the subject has (skipping from one to the
-- next), plus what facts_get costs for each: O(P log N) for P predicates. Read only.
-- Flags: no-writes
local s = ARGV[1]
local a, k = fact_when(ARGV[2], ARGV[3])
local base = 'r\0' .. s .. '\0'
local top = '[' .. base .. '\255'
local seen, out = {}, {}
for j = 1, #KEYS, 2 do
  local f, i = KEYS[j], KEYS[j + 1]
  local from = '[' .. base
  while true do
    local m = redis.call('ZRANGE', i, from, top, 'BYLEX', 'LIMIT', 0, 1)
    if #m == 0 then break end
    local p = string.sub(m[1], #base + 1, string.find(m[1], '\0', #base + 1, true) - 1)
    from = '[' .. base .. p .. '\1'  -- past every member of this predicate
    if not seen[p] then
      local found, card = fact_valid(f, i, s, p, a, k)
      if #found > 0 then
        local objects = fact_objects(f, found)
        local kept = {}
        for n = 1, #objects do
          if objects[n] then kept[#kept + 1] = objects[n] end
        end
        if #kept > 0 then
          seen[p] = true
          local n = #out
          out[n + 1], out[n + 2], out[n + 3], out[n + 4] = (j + 1) / 2, p, card, #kept
          for q = 1, #kept do out[n + 4 + q] = kept[q] end
        end
      end
    end
  end
end
return out
