-- Takes up to ARGV[3] deliveries due in the outbox (KEYS[1], score <= ARGV[1], ms) for one sender: each is
-- scored ARGV[2] (a lease), so another sender takes it only when this one died before removing it.
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[3])
for _, id in ipairs(ids) do redis.call('ZADD', KEYS[1], ARGV[2], id) end
return ids
