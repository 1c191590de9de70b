-- KEYS[1]: one token's request counter of one fixed window. ARGV[1]: the window, ms.
-- Counts one request; the first request of the window starts the key's expiry (later ones do not
-- extend it). Returns {count so far in the window, ms until the counter expires}.
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return {n, redis.call('PTTL', KEYS[1])}
