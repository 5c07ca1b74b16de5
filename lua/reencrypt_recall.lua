-- reencrypt_recall: rewrite recall items (see the recall layout in recall_add.lua) with
-- what the client made under the primary key: the whole field, its vector encrypted and its
-- text and meta sealed again under a new nonce (or for the first time), time and kind kept;
-- each only if its field still holds the bytes the client read (a compare-and-set on the
-- whole field, vector included: a concurrent add or delete always wins). Each
-- item rewritten gets a new version, so that clients' caches of the index fetch it again
-- (their copy may be under a key about to leave the ring); its expiry stays.
-- KEYS[1] R  KEYS[2] C
-- ARGV triples: the item id (as stored), the field's bytes read, the new bytes
-- Reply: one integer per triple: 1 rewritten, 0 not (the item changed or went since the
--   client read it)
-- Events: none (the item is the same).
-- Cost: O(G log N) for the G triples (the client sends at most 256 per call, 4 MiB in all).
-- Flags: idempotent
local r, c = KEYS[1], KEYS[2]
local _, now_us = clock()
local out, versions = {}, {}
local version = nil
for i = 1, #ARGV, 3 do
  local field = 'i:' .. ARGV[i]
  local won = 0
  if redis.call('HGET', r, field) == ARGV[i + 1] then
    if not version then
      version = now_us
      local g = tonumber(redis.call('HGET', r, 'g'))
      if g and version <= g then version = g + 1 end
    else
      version = version + 1
    end
    redis.call('HSET', r, field, ARGV[i + 2])
    versions[#versions + 1] = string.format('%d', version)
    versions[#versions + 1] = ARGV[i]
    won = 1
  end
  out[#out + 1] = won
end
if version then
  redis.call('ZADD', c, 'XX', unpack(versions))
  redis.call('HSET', r, 'g', string.format('%d', version))
end
return out
