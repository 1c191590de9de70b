-- Writes one event's deliveries into the outbox in one step (WebhookStore.writeOutbox).
-- KEYS[1]: the outbox (ZSET of delivery ids, scored by when a sender may take them); KEYS[2]: the list of
-- the job's delivery ids; KEYS[3..2+n]: each delivery's spec; KEYS[3+n] (optional): the job's ended marker.
-- ARGV: TTL of the records (s), now (ms), n, then n pairs (delivery id, spec JSON), then the marker's value.
-- With a marker: nothing is written when it is already set (the job's end was written before), and it is
-- set together with the deliveries, even when there are none. A delivery whose spec exists is skipped
-- (the same event for the same destination was written before). Answers the ids written.
local ttl, now, n = ARGV[1], ARGV[2], tonumber(ARGV[3])
local marker = KEYS[3 + n]
if marker and not redis.call('SET', marker, ARGV[4 + 2 * n], 'EX', ttl, 'NX') then return {} end
local made = {}
for i = 1, n do
  local id, spec = ARGV[2 + 2 * i], ARGV[3 + 2 * i]
  if redis.call('SET', KEYS[2 + i], spec, 'EX', ttl, 'NX') then
    redis.call('RPUSH', KEYS[2], id)
    redis.call('ZADD', KEYS[1], now, id)
    made[#made + 1] = id
  end
end
if #made > 0 then redis.call('EXPIRE', KEYS[2], ttl) end
return made
