-- history_fork: copy a thread's turns (all, or the oldest `upto`) into a new thread of the
-- same scope.
-- KEYS[1] L  (source)  KEYS[2] L  KEYS[3] I  (new thread)  KEYS[4] TA  KEYS[5] TX
-- KEYS[6] the scope's change log (only when the call logs events)
-- ARGV[1] new thread id  ARGV[2] upto (turns; 0: all)  ARGV[3] ttl in ms (0: never expires)
-- ARGV[4] max threads in the scope  ARGV[5] the source thread's id
-- ARGV[6] n: 0 copies the source's turns; else ARGV[7..6+n] are the turns to write (an
-- encrypted thread's, sealed again by the client for the new thread; KEYS[1] is not read)
-- ARGV[7+n..9+n] with KEYS[6]: the log's cap, retention (ms) and "1" to log values
-- Reply: number of turns copied (0: the source is empty, nothing written).
-- Errors: PM_CONFLICT (the new thread already holds turns), PM_FULL, PM_SEALED (copying by
-- itself, the source's turns are encrypted: only a client with the key can fork them);
-- nothing written.
-- Events (when copied): "expire" for each expired thread purged from the index, then
-- "fork" (k: the new thread, m: the newest turn copied, f: the source thread).
-- Cost: O(N) for N turns copied (the writes cap a thread's turns and bytes). With events:
-- XADD per event, one PEXPIRE.
-- Flags: once
local sl, dl, di, ta, tx, log = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]
local tid, upto, ttl_ms = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
if redis.call('EXISTS', dl) == 1 then
  return redis.error_reply('PM_CONFLICT the new thread already holds turns')
end
local given = tonumber(ARGV[6])
local entries
if given > 0 then
  entries = {}
  for i = 1, given do entries[i] = ARGV[6 + i] end
else
  entries = redis.call('LRANGE', sl, 0, upto - 1)
  if #entries > 0 and turn_sealed(entries[1]) then
    return redis.error_reply('PM_SEALED the turns are encrypted: fork them with the key')
  end
end
if #entries == 0 then return 0 end
local now = clock()
local was, fresh, err, purged = thread_room(ta, tx, tid, now, tonumber(ARGV[4]))
if err then return err end

local fields, tokens, bytes = {}, 0, 0
for i = 1, #entries do
  fields[2 * i - 1] = turn_id(entries[i])
  fields[2 * i] = '1'
  tokens, bytes = tokens + turn_tokens(entries[i]), bytes + #entries[i]
end
-- RPUSH first: a server at maxmemory (noeviction) refuses a script's first write when it
-- may grow memory, and then nothing is written
call_chunked('RPUSH', dl, entries)
redis.call('DEL', di)  -- an I whose L was evicted names turns no longer there
call_chunked('HSET', di, fields)
redis.call('HSET', di, '', thread_fmt_totals(tokens, bytes))
thread_written(dl, di, ta, tx, tid, now, ttl_ms, was, fresh, true)
if log then
  ev_expired(log, ARGV, 't', purged)
  ev_add(log, ARGV, 'o', 'fork', 'w', 't', 'k', tid, 'm', turn_id(entries[#entries]), 'f',
    ARGV[5])
  ev_done(log, ARGV)
end
return #entries
