-- KEYS[1]: one delivery's spec; KEYS[2]: the list of its job's delivery ids.
-- ARGV[1]: delivery id; ARGV[2]: spec (JSON); ARGV[3]: TTL of both, s.
-- Records a new delivery: returns 1, or 0 when a delivery with this id exists already (the same event
-- for the same destination was queued before), leaving both keys as they were.
if not redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3], 'NX') then return 0 end
redis.call('RPUSH', KEYS[2], ARGV[1])
redis.call('EXPIRE', KEYS[2], ARGV[3])
return 1
