-- scope_exists: is a key of a scope live?
-- KEYS[1] H  KEYS[2] X
-- ARGV[1] key (string)
-- Reply: 1 or 0. Cost: O(log N). Read only.
local x = KEYS[2]
if live_expiry(x, ARGV[1], now_ms()) then return 1 end
return 0
