-- recall_info: what a scope's recall index holds.
-- KEYS[1] R  KEYS[2] X  (see the recall layout in recall_add.lua)
-- ARGV: none
-- Reply: {embedder signature ("": no index), live items, version ("0": no index)}.
-- Cost: O(log N): TIME, HMGET, ZCOUNT. Read only.
-- Flags: no-writes
local r, x = KEYS[1], KEYS[2]
local t = redis.call('TIME')
local now = string.format('%d', t[1] * 1000 + math.floor(t[2] / 1000))
local st = redis.call('HMGET', r, 'm', 'g')
return {st[1] or '', redis.call('ZCOUNT', x, '(' .. now, '+inf'), st[2] or '0'}
