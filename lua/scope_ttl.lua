-- scope_ttl: remaining time to live of a key.
-- KEYS[1] H
-- ARGV[1] key (string)
-- Reply: remaining ms (>= 1), -1 when the key never expires, -2 when absent or expired.
-- Cost: O(1): HGET, and TIME only for a key with an expiry. Read only.
-- Flags: no-writes
local meta = redis.call('HGET', KEYS[1], 'm:' .. ARGV[1])
if not meta then return -2 end
local _, expiry = parse_meta(meta)
if expiry >= NOEXP then return -1 end
local now = clock()
if expiry <= now then return -2 end
return expiry - now
