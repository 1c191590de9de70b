-- Reserves a VM's name for a host and counts the create as pending there, unless the host's pending
-- totals with it would pass the limits (then nothing changes) (VmLedger.reserve).
-- KEYS: pending hash, totals hash, the VM's host key.
-- ARGV: vm, host, JSON entry, then the need per field (n, vcpus, memory_mb, storage_mb), then the limit
-- per field (-1: none).
-- Answers 'ok', 'exists' (the name is taken in the region) or 'full:<field>'.
local t = redis.call('HMGET', KEYS[2], 'n', 'vcpus', 'memory_mb', 'storage_mb')
local f = {'n', 'vcpus', 'memory_mb', 'storage_mb'}
for i = 1, 4 do
  local lim = tonumber(ARGV[7 + i])
  if lim >= 0 and (tonumber(t[i]) or 0) + tonumber(ARGV[3 + i]) > lim then return 'full:' .. f[i] end
end
if not redis.call('SET', KEYS[3], ARGV[2], 'NX') then return 'exists' end
if redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[3]) == 1 then
  for i = 1, 4 do redis.call('HINCRBY', KEYS[2], f[i], ARGV[3 + i]) end
end
return 'ok'
