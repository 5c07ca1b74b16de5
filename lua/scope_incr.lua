-- scope_incr: add to a numeric value atomically (a missing key counts as 0).
-- KEYS[1] H  KEYS[2] X  KEYS[3] the scope's change log (only when the call logs events)
-- ARGV[1] key  ARGV[2] amount type ("i"|"f")  ARGV[3] amount (integer or float text)
-- ARGV[4] ttl in ms applied only when the key is created (0: never expires)
-- ARGV[5] max keys in the scope
-- ARGV[6..8] with KEYS[3]: the log's cap, retention (ms) and "1" to log values
-- Reply: {meta, payload} of the new value. Errors: PM_WRONGTYPE, PM_OVERFLOW, PM_FULL.
-- Events: "expire" for each key purged, then "incr" (k, v; y, p: the new value).
-- Cost: O(log N), as scope_set (an existing key keeps its expiry: 4 calls). With events:
-- as scope_set.
-- Flags: once
return scope_incr_in(KEYS[1], KEYS[2], KEYS[3], ARGV[1], ARGV[2], ARGV[3],
  tonumber(ARGV[4]), ARGV[5], ARGV)
