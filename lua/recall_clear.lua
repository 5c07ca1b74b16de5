-- recall_clear: remove a scope's recall index whole.
-- KEYS[1] R  KEYS[2] X  KEYS[3] C  KEYS[4] T  (see the recall layout in recall_add.lua)
-- ARGV: none
-- Reply: the number of live items there were.
-- Cost: O(N) for the N items held (DEL).
-- Flags: idempotent allow-oom
local t = redis.call('TIME')
local now = string.format('%d', t[1] * 1000 + math.floor(t[2] / 1000))
local n = redis.call('ZCOUNT', KEYS[2], '(' .. now, '+inf')
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3], KEYS[4])
return n
