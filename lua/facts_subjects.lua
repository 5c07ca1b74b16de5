-- facts_subjects: a page of the subjects of each scope: those with any fact recorded
-- (retracted or superseded ones too), each once, in the order of their text, after a given
-- one. The client merges the pages of a context's scopes.
-- KEYS[j] I of the j-th scope (see the facts layout in _prelude.lua: a subject has one "p"
-- member per predicate, adjacent, and "p\0<s>\1" sorts after all of them)
-- ARGV[1] limit (subjects, >= 1)  ARGV[2] after: each page starts after this subject (as
-- stored; "": at the first)
-- Reply: {page, ...}, one per scope: an array of at most `limit` subjects in text order,
-- fewer only when no other follows.
-- Cost: per scope, one lex range of `limit` "p" members, then, while subjects are missing
-- (those read had several predicates), one lex lookup of a single member past the last
-- subject found: at most limit + 1 lex ranges reading at most 2 * limit members,
-- O(limit log N). Read only.
-- Flags: no-writes
local limit = tonumber(ARGV[1])
local start = '(p\0'
if ARGV[2] ~= '' then start = '(p\0' .. ARGV[2] .. '\1' end
local pages = {}
for k = 1, #KEYS do
  local i = KEYS[k]
  local out, lo, n = {}, start, limit
  while true do
    local got = redis.call('ZRANGE', i, lo, '(p\1', 'BYLEX', 'LIMIT', 0, n)
    for j = 1, #got do
      local m = got[j]
      local s = string.sub(m, 3, string.find(m, '\0', 3, true) - 1)
      if s ~= out[#out] and #out < limit then out[#out + 1] = s end
    end
    if #out == limit or #got < n then break end
    -- the last subject read may have more predicates: skip past all of them
    lo = '(p\0' .. out[#out] .. '\1'
    n = 1
  end
  pages[k] = out
end
return pages
