-- scope_ttl: remaining time to live of a key.
-- KEYS[1] H  KEYS[2] X
-- ARGV[1] key (string)
-- Reply: remaining ms (>= 1), -1 when the key never expires, -2 when absent or expired.
-- Cost: O(log N). Read only.
local x = KEYS[2]
local now = now_ms()
local at = live_expiry(x, ARGV[1], now)
if not at then return -2 end
if at >= NOEXP then return -1 end
return at - now
