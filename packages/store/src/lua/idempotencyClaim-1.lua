-- KEYS[1]: the record of one caller's Idempotency-Key. ARGV[1]: the pending record (JSON); ARGV[2]: its TTL, s.
-- Claims the key when free (returns false), else returns the record already there, in one step, so
-- a record released between a claim attempt and its read cannot be missed.
if redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2], 'NX') then return false end
return redis.call('GET', KEYS[1])
