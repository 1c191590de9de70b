-- Gives an operation on a VM the VM's next seq and its place in the VM's line of operations (ZSET by seq),
-- and writes the job's queue record (JobQueue's key, handed over) in the same round trip (VmLedger.enter).
-- KEYS: the job -> queue key; for an operation on a VM also its seq counter and its line.
-- ARGV: queue name, that key's TTL in seconds, job id; optionally the seq the VM must be at (a write built
-- from a read of the VM, If-Match): when another operation was queued since, nothing is recorded.
-- Answers the seq (0 for a job that is not a VM's), or -1 - the current seq when the VM is not at ARGV[4].
if #KEYS >= 3 and ARGV[4] then
  local current = tonumber(redis.call('GET', KEYS[2]) or '0')
  if current ~= tonumber(ARGV[4]) then return -1 - current end
end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
if #KEYS < 3 then return 0 end
local seq = redis.call('INCR', KEYS[2])
redis.call('ZADD', KEYS[3], seq, ARGV[3])
return seq
