-- facts_about: every predicate of `subject` with objects valid at world time `as_of`, as
-- believed at recording time `known_at`, each from the first scope (most specific first)
-- where it has any.
-- KEYS[2j - 1] F  KEYS[2j] I of the j-th scope, in precedence order (see the facts layout)
-- ARGV[1] subject  ARGV[2] as_of (world us + 2^52; "": now)  ARGV[3] known_at (us; "": now)
-- Reply: flat {j, predicate, cardinality, count, object x count, ...}, by scope then
-- predicate (text order).
-- Cost: per scope, one lex range for the subject's predicates, then what facts_get costs
-- for each: O(P log N) for P predicates. Read only.
-- Flags: no-writes
local s = ARGV[1]
local a, k = fact_when(ARGV[2], ARGV[3])
local base = 'p\0' .. s .. '\0'
local seen, out = {}, {}
for j = 1, #KEYS, 2 do
  local f, i = KEYS[j], KEYS[j + 1]
  local pairs_of = redis.call('ZRANGE', i, '[' .. base, '[' .. base .. '\255', 'BYLEX')
  for q = 1, #pairs_of do
    local p = string.sub(pairs_of[q], #base + 1)
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
          for x = 1, #kept do out[n + 4 + x] = kept[x] end
        end
      end
    end
  end
end
return out
