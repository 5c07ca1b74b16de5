-- facts_retract: end, at world time `at`, the validity of the believed versions of
-- (subject, predicate) valid then (of one object, or of all), without erasing them: each is
-- superseded now and, when it started before `at`, recorded again ending at `at`.
-- KEYS[1] F  KEYS[2] I  KEYS[3] the scope's change log (only when the call logs events)
-- ARGV[1] subject  ARGV[2] predicate  ARGV[3] at (world us + 2^52; "": the recording time)
-- ARGV[4] object digest ("": every object)  ARGV[5] time to live of the facts' keys, ms
-- ("0": none)  ARGV[6] max versions of one subject and predicate  ARGV[7] max versions in
-- the scope  ARGV[8..10] with KEYS[3]: the log's cap, retention (ms) and "1" to log values
-- Reply: {versions ended, recording time (us, a number; "" when none was)}.
-- Errors: PM_FULL (nothing written).
-- Events: "retract" for each version ended (w "f", k subject, a predicate, v its id).
-- Cost: O(log N) for a single-valued pair (TIME, HMGET, EXISTS, one lex lookup), plus
-- HSET, ZREM, ZADD and the expiry when it ends any; a many-valued pair reads its believed
-- versions starting at or before `at`; two lex lookups more, and O(K), when earlier
-- claims left K implicit cuts (see the facts layout), recorded when it ends any. With
-- events: XADD per event.
-- Flags: idempotent
local f, i, log = KEYS[1], KEYS[2], KEYS[3]
local s, p, od = ARGV[1], ARGV[2], ARGV[4]
local st, head, rf, now = fact_state(f, i, s, p)
local card = head.card
if not card then return {0, ''} end
local at = tonumber(ARGV[3]) or rf + FACT_OFF
local pre = 'v\0' .. s .. '\0' .. p .. '\0'
local ov, cuts  -- the pair's implicit chain, read through (fact_chain)
if head.chain then ov, cuts = fact_chain(i, pre, head.chain) end
local before = fact_before(i, pre, at, card == '1' and 1 or nil, ov)
local cut, pieces = {}, {}
for j = #before, 1, -1 do  -- earliest start first
  local c = before[j]
  if c.vt > at and (od == '' or c.od == od) then
    cut[#cut + 1] = c
    if c.vf < at then
      pieces[#pieces + 1] = {vf = c.vf, w = c.w, vt = at, did = c.did, od = c.od}
    end
  end
end
if #cut == 0 then return {0, ''} end
local err = fact_room(head.count, st[2], #pieces, ARGV[6], ARGV[7])
if err then return err end
fact_commit(f, i, s, p, card, head, rf, st, cut, pieces, nil, {}, ARGV[5], true, cuts)
if log then
  local created = false
  for j = 1, #cut do
    created = ev_add(log, ARGV, 'o', 'retract', 'w', 'f', 'k', s, 'a', p, 'v',
      fmt_int(cut[j].id + 0)) or created
  end
  ev_scope_done(f, log, ARGV, st[3], now, created)
end
return {#cut, rf}
