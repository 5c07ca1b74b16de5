-- reencrypt_fields: rewrite hash fields (scope values, cache entries, fact objects) with
-- what the client sealed under the primary key, each only if it still holds the bytes the
-- client read (a compare-and-set: a concurrent write always wins). The logical value does
-- not change, so no event is logged and expiries, versions and indexes stay as they are.
-- KEYS[1] the hash (a scope's H, a cache bucket's h, or a fact store's F)
-- ARGV groups of 5, one per field: the data field ("d:<key>"), the bytes read, the new
--   bytes, the meta field ("m:<key>"; "": none, as for fact objects) and the type char the
--   meta must still start with (it becomes "s": a value that was not encrypted is)
-- Reply: one integer per group: 1 rewritten, 0 not (the field changed or went since the
--   client read it)
-- Events: none (the value is the same).
-- Cost: O(G) for the G groups (the client sends at most 256 per call, 4 MiB in all).
-- Flags: idempotent
local h = KEYS[1]
local out = {}
for i = 1, #ARGV, 5 do
  local field, old, new, mfield, mtype = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3],
    ARGV[i + 4]
  local won = 0
  if redis.call('HGET', h, field) == old then
    if mfield == '' then
      redis.call('HSET', h, field, new)
      won = 1
    else
      local meta = redis.call('HGET', h, mfield)
      if meta and string.sub(meta, 1, 1) == mtype then
        if mtype == 's' then
          redis.call('HSET', h, field, new)
        else
          redis.call('HSET', h, field, new, mfield, 's' .. string.sub(meta, 2))
        end
        won = 1
      end
    end
  end
  out[#out + 1] = won
end
return out
