-- Records a submitted job's queue and, for an operation on a VM, gives it the VM's next seq and its place
-- in the VM's line of operations (ZSET by seq), in one round trip (JobQueue.submit).
-- KEYS: the job -> queue key; for an operation on a VM also its seq counter and its line.
-- ARGV: queue name, that key's TTL in seconds, job id.
-- Answers the seq (0 for a job that is not a VM's).
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
if #KEYS < 3 then return 0 end
local seq = redis.call('INCR', KEYS[2])
redis.call('ZADD', KEYS[3], seq, ARGV[3])
return seq
