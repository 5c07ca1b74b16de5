-- scope_exists: is a key of a scope live?
-- KEYS[1] H  KEYS[2] X
-- ARGV[1] key (string)
-- Reply: 1 or 0. Cost: O(1). Read only.
-- Flags: no-writes
local now = clock()
if live_meta(redis.call('HGET', KEYS[1], 'm:' .. ARGV[1]), now) then return 1 end
return 0
