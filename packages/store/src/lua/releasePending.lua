-- Stops counting a create as pending on its host: removes its entry and takes it off the totals
-- (VmLedger.release). With the VM's host key as a third key (VmLedger.free: the create will not make
-- its VM), also frees the name if it is still reserved for that host.
-- KEYS: pending hash, totals hash, [the VM's host key].
-- ARGV: vm, [host].
-- Answers 1 when an entry was removed, else 0.
if #KEYS >= 3 and redis.call('GET', KEYS[3]) == ARGV[2] then redis.call('DEL', KEYS[3]) end
local v = redis.call('HGET', KEYS[1], ARGV[1])
if not v then return 0 end
redis.call('HDEL', KEYS[1], ARGV[1])
local ok, e = pcall(cjson.decode, v)
if ok and type(e) == 'table' then
  -- `0 - x`, not `-x`: Lua's -0 reads "-0", which HINCRBY refuses (a resize's entry holds zeros, and adds no VM: n = 0).
  redis.call('HINCRBY', KEYS[2], 'n', 0 - (tonumber(e.n) or 1))
  redis.call('HINCRBY', KEYS[2], 'vcpus', 0 - (tonumber(e.vcpus) or 0))
  redis.call('HINCRBY', KEYS[2], 'memory_mb', 0 - (tonumber(e.memory_mb) or 0))
  redis.call('HINCRBY', KEYS[2], 'storage_mb', 0 - (tonumber(e.storage_mb) or 0))
end
return 1
