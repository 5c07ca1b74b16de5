-- limiter_hit_fixed: spend from one fixed-window limit if it allows, on the server's clock.
-- KEYS[1] hash: window index -> amount used in it (see rl_fixed_start)
-- ARGV[1] cost (millionths of a unit, integer text)
-- ARGV[2] limit (millionths of a unit, integer text)
-- ARGV[3] period (us, integer text): windows are aligned to the epoch
-- ARGV[4] px (ms, integer text): the key's TTL, at least period + 1 ms
-- Reply: allowed: {used after the hit, us until the window ends};
--   denied: {used, us until the window ends, the same again (the wait)}
-- Cost: O(1): TIME and one HINCRBY (spent at once; taken back when denied), the call's
-- first write, which Redis refuses at maxmemory; the first hit of a window then also drops
-- the earlier windows and sets the TTL (three more commands: DEL, HSET, PEXPIRE).
-- ARGV are numbers by Lua's arithmetic on their text, which costs less than tonumber.
-- Flags: once
local t = redis.call('TIME')
local now = t[1] * 1000000 + t[2]
local reset = ARGV[3] - now % ARGV[3]  -- us until the window ends
local w = string.format('%d', (now + reset) / ARGV[3] - 1)  -- the window's index
if ARGV[1] == '0' then return {tonumber(redis.call('HGET', KEYS[1], w)) or 0, reset} end
local used = redis.call('HINCRBY', KEYS[1], w, ARGV[1])
local cost = ARGV[1] + 0
if used == cost then  -- the window's first hit
  redis.call('DEL', KEYS[1])
  redis.call('HSET', KEYS[1], w, ARGV[1])
  redis.call('PEXPIRE', KEYS[1], ARGV[4])
elseif used > ARGV[2] + 0 then
  redis.call('HINCRBY', KEYS[1], w, '-' .. ARGV[1])
  return {used - cost, reset, reset}
end
return {used, reset}
