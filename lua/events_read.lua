-- events_read: a page of a change log (a scope's or a cache bucket's), oldest first.
-- KEYS[1] the log
-- ARGV[1] where to start: "-" (the oldest), a stream id "<ms>-<seq>" (included) or
-- "(<ms>-<seq>" (after it)  ARGV[2] at most this many entries (1..1000, capped by the
-- client)
-- Reply: XRANGE's, {{id, {field, value, ...}}, ...}; empty when the log is absent.
-- Cost: O(log N + n) for n entries read. Read only.
-- Flags: no-writes
return redis.call('XRANGE', KEYS[1], ARGV[1], '+', 'COUNT', ARGV[2])
