-- recall_get: one live item of a scope's recall index.
-- KEYS[1] R  KEYS[2] X  (see the recall layout in recall_add.lua)
-- ARGV[1] id
-- Reply: its record "<created ms>:<blob>", or nil when it is absent or expired.
-- Cost: O(1): TIME, ZSCORE, HGET. Read only.
-- Flags: no-writes
local r, x = KEYS[1], KEYS[2]
local t = redis.call('TIME')
local expiry = redis.call('ZSCORE', x, ARGV[1])
if not expiry or tonumber(expiry) <= t[1] * 1000 + t[2] / 1000 then return false end
return redis.call('HGET', r, 'd:' .. ARGV[1])
