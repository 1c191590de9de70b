-- Moves a queued job (waiting, paused, prioritized or delayed) straight to BullMQ's failed set, so no
-- worker can take it in between (JobQueue.cancelQueued). This edits BullMQ's own keys: the fields and
-- keys used here are pinned by packages/store/test/cancel-queued.test.ts against the installed BullMQ.
-- KEYS: job hash, wait, paused, prioritized, delayed, failed, events.
-- ARGV: job id, failedReason, now (ms).
-- Answers 1 (canceled), 0 (not queued: running or finished), -1 (no such job).
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
local removed = redis.call('LREM', KEYS[2], 0, ARGV[1])
if removed == 0 then removed = redis.call('LREM', KEYS[3], 0, ARGV[1]) end
if removed == 0 then removed = redis.call('ZREM', KEYS[4], ARGV[1]) end
if removed == 0 then removed = redis.call('ZREM', KEYS[5], ARGV[1]) end
if removed == 0 then return 0 end
redis.call('HSET', KEYS[1], 'failedReason', ARGV[2], 'finishedOn', ARGV[3])
redis.call('ZADD', KEYS[6], ARGV[3], ARGV[1])
redis.call('XADD', KEYS[7], 'MAXLEN', '~', 10000, '*', 'event', 'failed', 'jobId', ARGV[1], 'failedReason', ARGV[2], 'prev', 'waiting')
return 1
