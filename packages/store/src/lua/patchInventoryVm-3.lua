-- Replaces (or, with an empty ARGV[2], removes) one VM in a host's inventory entry (InventoryStore.patchVm).
-- The entry's `vms` array is spliced in as text because Redis' cjson would encode an empty array as an
-- object.
-- KEYS: the host's inventory key, its version (a new token with every write), its patches (HASH: `#seq`
-- counter, vm name -> the counter at its last patch, read by putListedEntry).
-- ARGV: vm name, JSON InventoryVm or '', the new version token.
-- Answers 0 when the host has no entry yet, else 1.
local raw = redis.call('GET', KEYS[1])
if not raw then return 0 end
local entry = cjson.decode(raw)
local out = {}
for _, v in ipairs(entry.vms or {}) do
  if v.name ~= ARGV[1] then table.insert(out, cjson.encode(v)) end
end
if ARGV[2] ~= '' then table.insert(out, ARGV[2]) end
entry.vms = nil
local head = cjson.encode(entry)
redis.call('SET', KEYS[1], string.sub(head, 1, -2) .. ',"vms":[' .. table.concat(out, ',') .. ']}')
redis.call('SET', KEYS[2], ARGV[3])
redis.call('HSET', KEYS[3], ARGV[1], redis.call('HINCRBY', KEYS[3], '#seq', 1))
return 1
