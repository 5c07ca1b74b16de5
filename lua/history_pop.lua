-- history_pop: remove a thread's newest turn and return it (an undo of the last append, or
-- what a framework's "pop the last item" asks for), with the thread's totals kept exact. The
-- thread's expiry is left as it is (the next append or read slides it); its last write is
-- recorded, as a clear's is.
-- KEYS[1] L  KEYS[2] I  KEYS[3] TA  KEYS[4] TX  (see the history layout in _prelude.lua)
-- KEYS[5] the scope's change log (only when the call logs events)
-- ARGV[1] thread id
-- ARGV[2..4] with KEYS[5]: the log's cap, retention (ms) and "1" to log values
-- Reply: the turn's entry as the thread held it (header and body), or nil when the thread
-- holds no turns (nothing written).
-- Events: "delete" (k: the thread, m: the turn's id) when a turn was removed.
-- Cost: O(1): RPOP, then HGET, HSET and HDEL (I) (one DEL when it was the last turn), TIME
-- and ZADD (TA). With events: one XADD and one PEXPIRE.
-- Flags: once allow-oom
local l, ids, ta, log = KEYS[1], KEYS[2], KEYS[3], KEYS[5]
local entry = redis.call('RPOP', l)
if not entry then return false end
local mid = turn_id(entry)
if redis.call('EXISTS', l) == 0 then
  redis.call('DEL', ids)  -- the last turn: nothing left to count (as after a clear)
else
  -- totals absent (I evicted): the next append rebuilds I from L, without this turn
  local tokens, bytes = thread_parse_totals(redis.call('HGET', ids, ''))
  if tokens then
    redis.call('HSET', ids, '', thread_fmt_totals(tokens - turn_tokens(entry), bytes - #entry))
  end
  redis.call('HDEL', ids, mid)
end
local now = clock()
redis.call('ZADD', ta, 'XX', fmt_int(now), ARGV[1])
if log then
  ev_add(log, ARGV, 'o', 'delete', 'w', 't', 'k', ARGV[1], 'm', mid)
  ev_done(log, ARGV)
end
return entry
