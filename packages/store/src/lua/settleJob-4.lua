-- Settles what a job held on its VM's records, at most once (VmLedger.settle): its pending entry on its host
-- (a create's room, or a resize's extra room) is released and, when the job has ended, its turn in the
-- VM's line too. The job's place in the line is the mark: once it is gone, settling again does nothing, so
-- a cancel and a worker (or two workers) ending the same job release it once, and a late settle never
-- takes a later create's reservation of the same name.
-- KEYS: the VM's line (vmops), the host's pending hash, its totals hash, the VM's host key (vmhost).
-- ARGV: job id; '1' when the job has ended (its turn ends), '0' when it goes on (a create whose VM runs
-- and which waits for its guest); the pending entry to release ('' for none); '1' to free the name too (a
-- create that left no VM), else '0'; the job's host.
-- Answers {0} when the job was settled already (not in the line), else {1, the line's head now or ''}.
if ARGV[2] == '1' then
  if redis.call('ZREM', KEYS[1], ARGV[1]) == 0 then return {0} end
elseif redis.call('ZSCORE', KEYS[1], ARGV[1]) == false then
  return {0}
end
if ARGV[4] == '1' and redis.call('GET', KEYS[4]) == ARGV[5] then redis.call('DEL', KEYS[4]) end
if ARGV[3] ~= '' then
  local v = redis.call('HGET', KEYS[2], ARGV[3])
  if v then
    redis.call('HDEL', KEYS[2], ARGV[3])
    local ok, e = pcall(cjson.decode, v)
    if ok and type(e) == 'table' then
      -- `0 - x`, not `-x`: Lua's -0 reads "-0", which HINCRBY refuses (as in releasePending).
      redis.call('HINCRBY', KEYS[3], 'n', 0 - (tonumber(e.n) or 1))
      redis.call('HINCRBY', KEYS[3], 'vcpus', 0 - (tonumber(e.vcpus) or 0))
      redis.call('HINCRBY', KEYS[3], 'memory_mb', 0 - (tonumber(e.memory_mb) or 0))
      redis.call('HINCRBY', KEYS[3], 'storage_mb', 0 - (tonumber(e.storage_mb) or 0))
    end
  end
end
local head = redis.call('ZRANGE', KEYS[1], 0, 0)
return {1, head[1] or ''}
