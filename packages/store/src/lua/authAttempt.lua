-- KEYS[1]: the client address's failure count; KEYS[2] (after a right token only): that token's
-- exemption at the address. ARGV[1]: the window, ms; ARGV[2]: failures allowed in it.
-- Returns 0 to let the attempt go on, or the ms until the address may try again.
local window = tonumber(ARGV[1])
-- A token that authenticated here within the window goes on (and keeps its exemption another window).
if KEYS[2] and redis.call('PEXPIRE', KEYS[2], window) == 1 then return 0 end
local n = tonumber(redis.call('GET', KEYS[1]) or '0')
if n >= tonumber(ARGV[2]) then
  local t = redis.call('PTTL', KEYS[1])
  if t <= 0 then t = window end
  return t
end
if KEYS[2] then
  redis.call('SET', KEYS[2], '1', 'PX', window)
elseif redis.call('INCR', KEYS[1]) == 1 then
  redis.call('PEXPIRE', KEYS[1], window)
end
return 0
