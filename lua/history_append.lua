-- history_append: add turns to a thread, skipping message ids it already holds, then drop
-- the oldest turns beyond the caps (never the newest), record its last write and slide its
-- expiry (re-armed only once it has run down by more than 1/REARM_SLACK of the ttl, and
-- always when a key of the thread was missing: see the history layout on eviction).
-- KEYS[1] L  KEYS[2] I  KEYS[3] TA  KEYS[4] TX  (see the history layout in _prelude.lua)
-- KEYS[5] the scope's change log (only when the call logs events)
-- ARGV[1] thread id  ARGV[2] max turns (> 0)  ARGV[3] max tokens (0: no cap)
-- ARGV[4] ttl in ms (0: never expires)  ARGV[5] return evicted turns ("1"|"0")
-- ARGV[6] max threads in the scope  ARGV[7] max bytes of the thread's entries
-- ARGV[8] then read the thread's newest turns, as history_messages does: "0" no, "1" yes
-- ARGV[9] the read's last (turns; 0: no limit)  ARGV[10] its max tokens (0: no limit)
-- ARGV[11..] triples: message id, tokens (integer >= 0), the entry after its first 10 bytes
--   (see the history layout; count and bytes capped by the client, each entry below ARGV[7])
--   then, with KEYS[5], the log's cap, retention (ms) and "1" to log values (the last three)
-- Reply: {created ms, flags, evicted count, evicted entries..., read...}: flags has one "1"
-- (appended) or "0" (id already there) per message; the evicted entries, oldest first, follow
-- only when asked for (a flat array: cheaper to convert than a nested one); then, when a
-- read was asked for, the turns read after the append, oldest first. The append re-arms the
-- thread's expiry, so no history_touch follows.
-- Errors: PM_FULL (nothing written).
-- Events: "expire" for each expired thread purged from the index (k: its id), then "append"
-- for each turn pushed (k: the thread, m: its id; y "e", p: the entry, with values), then
-- "delete" for each turn dropped by the caps (m: its id). A message already there: none.
-- Cost: O(n + evicted), plus O(E) expired threads purged when the thread is new, plus O(N)
-- for the N turns held when I was evicted and is rebuilt, plus O(R + 32) for R turns read
-- (thread_tail; no call at all when no read is asked for). Commands, for an append of new
-- ids to a thread whose keys are all there: TIME, ZSCORE (TX), HMGET (I), RPUSH, then LPOP
-- (LRANGE + LTRIM over a token or byte cap) when over a cap, HSET and HDEL (I), ZADD (TA),
-- and the expiry's writes only when due. With events: XADD per event, one PEXPIRE when any.
-- Flags: idempotent
local l, ids, ta, tx, log = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local tid, last = ARGV[1], #ARGV
if log then last = last - 3 end
local now = clock()
local was, fresh, err, purged = thread_room(ta, tx, tid, now, tonumber(ARGV[6]))
if err then return err end

-- what the thread holds: its totals, and whether I names each message's id (got[k + 1]:
-- the k-th message's, the one at ARGV[3k + 8]), trusted only while L is there too
local got
if last == 13 then
  got = redis.call('HMGET', ids, '', ARGV[11])  -- one message (append): no list to build
else
  local ask = {''}
  for i = 11, last, 3 do ask[#ask + 1] = ARGV[i] end
  got = redis.call('HMGET', ids, unpack(ask, 1, math.min(1000, #ask)))
  for i = 1001, #ask, 1000 do
    local part = redis.call('HMGET', ids, unpack(ask, i, math.min(i + 999, #ask)))
    for j = 1, #part do got[i + j - 1] = part[j] end
  end
end
local tokens, bytes = thread_parse_totals(got[1])
local held, keys_new = nil, false
if not tokens then
  -- no I (a new or cleared thread, or I evicted): L decides, rebuilt into I when there
  held = redis.call('LLEN', l)
  local known = {}
  tokens, bytes = 0, 0
  if held > 0 then tokens, bytes, known = thread_rebuild(l, ids) end
  for i = 11, last, 3 do got[(i - 5) / 3] = known[ARGV[i]] end
  keys_new = true
end

-- the entries to push: the messages whose ids are not known (`got`) nor earlier in the batch
local stamp = turn_stamp(now)
local flags, pushed, fields, added, added_bytes
if last == 13 and not got[2] then  -- one new message (append), written out: no loop, no seen
  local entry = stamp .. ARGV[13]
  flags, pushed, fields = {'1'}, {entry}, {ARGV[11], '1'}
  added, added_bytes = tonumber(ARGV[12]), #entry
else
  flags, pushed, fields, added, added_bytes = turn_plan(ARGV, last, stamp, got)
end

-- RPUSH is the first write, so that a server at maxmemory (noeviction) refuses the append
-- whole; its reply says how many turns L held
local len
if #pushed > 0 then
  for i = 1, #pushed, 1000 do
    len = redis.call('RPUSH', l, unpack(pushed, i, math.min(i + 999, #pushed)))
  end
else
  len = redis.call('LLEN', l)
end
if not held then
  held = len - #pushed
  if held == 0 then
    -- L was evicted while I survived: I names turns no longer there, so no id is known
    -- and no turn counted; the ids skipped as known are pushed after all, in order
    keys_new, tokens, bytes = true, 0, 0
    if #pushed < #flags then
      flags, pushed, fields, added, added_bytes = turn_plan(ARGV, last, stamp, {})
      if #pushed > len then
        if len > 0 then redis.call('DEL', l) end
        call_chunked('RPUSH', l, pushed)
      end
      len = #pushed
    end
  end
end
tokens, bytes = tokens + added, bytes + added_bytes

-- the oldest turns go: those beyond max turns, then more while over the token or byte cap
local max_turns, max_tokens, max_bytes = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[7])
local drop = len - max_turns
if drop < 0 then drop = 0 end
local gone = {}
if (max_tokens == 0 or tokens <= max_tokens) and bytes <= max_bytes then
  if drop > 0 then gone = redis.call('LPOP', l, drop) end
else
  local function over(t, b)
    return (max_tokens > 0 and t > max_tokens) or b > max_bytes
  end
  -- read the head in chunks, the first sized for what this append likely evicts, then trim
  local n, chunk, t, b = 0, drop + #pushed + 1, tokens, bytes
  while n < len - 1 and (n < drop or over(t, b)) do
    local part = redis.call('LRANGE', l, n, n + chunk - 1)
    for i = 1, #part do
      if n >= len - 1 or (n >= drop and not over(t, b)) then break end
      t, b = t - turn_tokens(part[i]), b - #part[i]
      n = n + 1
      gone[n] = part[i]
    end
    if #part < chunk then break end
    chunk = chunk * 2
  end
  drop = n
  if drop > 0 then redis.call('LTRIM', l, drop, -1) end
end

local gone_ids = {}
for i = 1, #gone do
  gone_ids[i] = turn_id(gone[i])
  tokens, bytes = tokens - turn_tokens(gone[i]), bytes - #gone[i]
end
-- an I whose L was evicted names turns no longer there. Dropped only now, after RPUSH
if held == 0 then redis.call('DEL', ids) end
if #pushed > 0 or #gone > 0 then
  local n = #fields
  fields[n + 1], fields[n + 2] = '', thread_fmt_totals(tokens, bytes)
  call_chunked('HSET', ids, fields)
  call_chunked('HDEL', ids, gone_ids)
end

thread_written(l, ids, ta, tx, tid, now, tonumber(ARGV[4]), was, fresh, keys_new)
if log then
  local n = ev_expired(log, ARGV, 't', purged)
  local values = ev_values(ARGV)
  for j = 1, #pushed do  -- fields[2j - 1]: the j-th pushed turn's id
    if values then
      ev_add(log, ARGV, 'o', 'append', 'w', 't', 'k', tid, 'm', fields[2 * j - 1], 'y', 'e',
        'p', pushed[j])
    else
      ev_add(log, ARGV, 'o', 'append', 'w', 't', 'k', tid, 'm', fields[2 * j - 1])
    end
  end
  for j = 1, #gone_ids do
    ev_add(log, ARGV, 'o', 'delete', 'w', 't', 'k', tid, 'm', gone_ids[j])
  end
  if n + #pushed + #gone_ids > 0 then ev_done(log, ARGV) end
end
local reply = {now, #flags == 1 and flags[1] or table.concat(flags), drop}
local n = 3
if ARGV[5] == '1' then
  for i = 1, #gone do reply[3 + i] = gone[i] end
  n = 3 + #gone
end
if ARGV[8] == '1' then
  local turns = thread_tail(l, tonumber(ARGV[9]), tonumber(ARGV[10]))
  for i = 1, #turns do reply[n + i] = turns[i] end
end
return reply
