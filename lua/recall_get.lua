-- recall_get: one live item of a scope's recall index.
-- KEYS[1] R  KEYS[2] X  (see the recall layout in recall_add.lua)
-- ARGV[1] embedder signature  ARGV[2] where the record starts in the item's field: the
-- bytes of one vector, or 0 for the whole field (an encrypted index: the client checks the
-- vector against its record)  ARGV[3] id (as stored)
-- Reply: its record "<created ms>:<blob>" (or the whole field), or nil when it is absent or
-- expired.
-- Errors: PM_EMBEDDER (the index holds another embedder's vectors).
-- Cost: O(1): TIME, ZSCORE, HMGET. Read only.
-- Flags: no-writes
local r, x = KEYS[1], KEYS[2]
local t = redis.call('TIME')
local expiry = redis.call('ZSCORE', x, ARGV[3])
if not expiry or tonumber(expiry) <= t[1] * 1000 + t[2] / 1000 then return false end
local st = redis.call('HMGET', r, 'm', 'i:' .. ARGV[3])
if st[1] ~= ARGV[1] then
  return redis.error_reply('PM_EMBEDDER the index holds vectors of ' .. tostring(st[1]))
end
if not st[2] then return false end
return string.sub(st[2], tonumber(ARGV[2]) + 1)
