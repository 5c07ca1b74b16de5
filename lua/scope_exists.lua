-- scope_exists: is a key of a scope live?
-- KEYS[1] H
-- ARGV[1] key (string)
-- Reply: 1 or 0. Cost: O(1): HGET, and TIME only for a key with an expiry. Read only.
-- Flags: no-writes
local meta = redis.call('HGET', KEYS[1], 'm:' .. ARGV[1])
if meta and read_live(meta) then return 1 end
return 0
