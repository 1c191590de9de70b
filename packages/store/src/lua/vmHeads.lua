-- The first operation in each VM's line (VmLedger.heads): KEYS are the VMs' line ZSETs (vmOps).
-- Answers one entry per key, in order: the member with the lowest seq, or nil for an empty line.
local out = {}
for i, k in ipairs(KEYS) do
  local r = redis.call('ZRANGE', k, 0, 0)
  out[i] = r[1] or false
end
return out
