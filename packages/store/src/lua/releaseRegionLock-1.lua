-- Releases a region's lock only if it is still held with this token (a lock that lapsed and was taken
-- by another request is left alone) (RegionLock.release).
-- KEYS: the region's lock key.
-- ARGV: the token it was taken with.
-- Answers 1 when released, else 0.
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
