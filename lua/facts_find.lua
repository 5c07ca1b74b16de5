-- facts_find: the subjects whose `predicate` has `object` valid at world time `as_of`, as
-- believed at recording time `known_at`, each from the most specific scope where the
-- subject's predicate has any object valid (a more specific scope's other object shadows
-- it). Or, with no object digest, which of the subjects ARGV[5..] have any object valid
-- for the predicate in each scope (for the scopes of other cluster slots).
-- KEYS[2j - 1] F  KEYS[2j] I of the j-th scope, in precedence order (see the facts layout)
-- ARGV[1] predicate  ARGV[2] object digest ("": the check)  ARGV[3] as_of (world us + 2^52;
-- "": now)  ARGV[4] known_at (us; "": now)  ARGV[5..] the subjects to check
-- Reply: flat {j, subject, ...}: the scope and each subject found (checked) there.
-- Cost: per scope, O(log N) to list the subjects that ever held the object for the
-- predicate (from the "o" members), then what facts_get costs for each of them, and for
-- each in the more specific scopes: O(C S log N) for C candidates over S scopes. Read only.
-- Flags: no-writes
local p, od = ARGV[1], ARGV[2]
local a, k = fact_when(ARGV[3], ARGV[4])
local out = {}
if od == '' then
  for j = 1, #KEYS, 2 do
    local f, i = KEYS[j], KEYS[j + 1]
    for n = 5, #ARGV do
      if #fact_valid(f, i, ARGV[n], p, a, k) > 0 then
        out[#out + 1], out[#out + 2] = (j + 1) / 2, ARGV[n]
      end
    end
  end
  return out
end
local pre = 'o\0' .. p .. '\0' .. od .. '\0'
local decided = {}  -- subject -> true once a scope had an object valid for it
for j = 1, #KEYS, 2 do
  local f, i = KEYS[j], KEYS[j + 1]
  local subjects = redis.call('ZRANGE', i, '[' .. pre, '[' .. pre .. '\255', 'BYLEX')
  for n = 1, #subjects do
    local s = string.sub(subjects[n], #pre + 1)
    if not decided[s] then
      -- a more specific scope holding another object for it decides
      for q = 1, j - 2, 2 do
        if #fact_valid(KEYS[q], KEYS[q + 1], s, p, a, k) > 0 then
          decided[s] = true
          break
        end
      end
    end
    if not decided[s] then
      local found = fact_valid(f, i, s, p, a, k)
      for q = 1, #found do
        if found[q].od == od then
          out[#out + 1], out[#out + 2] = (j + 1) / 2, s
          break
        end
      end
      if #found > 0 then decided[s] = true end
    end
  end
end
return out
