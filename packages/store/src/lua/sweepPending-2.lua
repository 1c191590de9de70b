-- Removes the named creates from a host's pending hash, then sets the totals to the sum of what is left,
-- so totals that drifted (e.g. written before totals existed) are right again (VmLedger.sweep).
-- KEYS: pending hash, totals hash.
-- ARGV: the names to remove (may be none).
-- Answers {n, vcpus, memory_mb, storage_mb}.
if #ARGV > 0 then redis.call('HDEL', KEYS[1], unpack(ARGV)) end
local s = {0, 0, 0, 0}
local vals = redis.call('HVALS', KEYS[1])
for _, v in ipairs(vals) do
  local ok, e = pcall(cjson.decode, v)
  if ok and type(e) == 'table' then
    s[1] = s[1] + (tonumber(e.n) or 1) -- a resize's entry adds no VM (n = 0)
    s[2] = s[2] + (tonumber(e.vcpus) or 0)
    s[3] = s[3] + (tonumber(e.memory_mb) or 0)
    s[4] = s[4] + (tonumber(e.storage_mb) or 0)
  end
end
redis.call('HSET', KEYS[2], 'n', s[1], 'vcpus', s[2], 'memory_mb', s[3], 'storage_mb', s[4])
return s
