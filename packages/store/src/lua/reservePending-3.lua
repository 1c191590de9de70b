-- Reserves a VM's name for a host and counts the create as pending there, unless the host's pending
-- totals with it would pass the limits (then nothing changes) (VmLedger.reserve). With ARGV[12] =
-- 'resize' it counts a resize's extra room instead (VmLedger.reserveResize): the VM's name must not be
-- reserved for another host (a VM the API found listed on this one may have no reservation: made before
-- names were recorded, or after a Redis loss), and the entry (ARGV[1], `VM/resize`) must not exist yet
-- (one resize at a time).
-- KEYS: pending hash, totals hash, the VM's host key.
-- ARGV: entry name (the vm), host, JSON entry, then the need per field (n, vcpus, memory_mb, storage_mb),
-- then the limit per field (-1: none), [mode].
-- Answers 'ok', 'exists' (the name is taken in the region), 'full:<field>', and for a resize 'gone' (the
-- VM's name is reserved for another host) or 'busy' (a resize of the VM is pending already).
local resize = ARGV[12] == 'resize'
if resize then
  local h = redis.call('GET', KEYS[3])
  if h and h ~= ARGV[2] then return 'gone' end
  if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then return 'busy' end
end
local t = redis.call('HMGET', KEYS[2], 'n', 'vcpus', 'memory_mb', 'storage_mb')
local f = {'n', 'vcpus', 'memory_mb', 'storage_mb'}
for i = 1, 4 do
  local lim = tonumber(ARGV[7 + i])
  local need = tonumber(ARGV[3 + i])
  if lim >= 0 and need > 0 and (tonumber(t[i]) or 0) + need > lim then return 'full:' .. f[i] end
end
if not resize and not redis.call('SET', KEYS[3], ARGV[2], 'NX') then return 'exists' end
if redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[3]) == 1 then
  for i = 1, 4 do redis.call('HINCRBY', KEYS[2], f[i], ARGV[3 + i]) end
end
return 'ok'
