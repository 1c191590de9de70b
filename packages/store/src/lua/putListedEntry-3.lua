-- Writes a host's inventory entry from a listing (InventoryStore.putListedEntry), keeping what a per-VM patch
-- wrote after the listing began: a VM deleted (or created, stopped, ...) while the host was being listed is
-- taken from the current entry, not from the older listing, so a delete never comes back until the next refresh.
-- KEYS: the host's inventory key, its version, its patches (see patchInventoryVm).
-- ARGV: the entry's JSON without `vms` (an object), the patch counter read before listing, the new version
-- token, then vm name and JSON InventoryVm pairs of the listing.
-- The `vms` array is spliced in as text (Redis' cjson would encode an empty array as an object).
local since = tonumber(ARGV[2]) or 0
local patches = redis.call('HGETALL', KEYS[3])
local newer, older = {}, {}
for i = 1, #patches, 2 do
  local name, seq = patches[i], tonumber(patches[i + 1])
  if name ~= '#seq' then
    if seq > since then newer[name] = true else table.insert(older, name) end
  end
end
local out = {}
for i = 4, #ARGV, 2 do
  if not newer[ARGV[i]] then table.insert(out, ARGV[i + 1]) end
end
if next(newer) ~= nil then
  local raw = redis.call('GET', KEYS[1])
  if raw then
    for _, v in ipairs(cjson.decode(raw).vms or {}) do
      if newer[v.name] then table.insert(out, cjson.encode(v)) end
    end
  end
end
redis.call('SET', KEYS[1], string.sub(ARGV[1], 1, -2) .. ',"vms":[' .. table.concat(out, ',') .. ']}')
redis.call('SET', KEYS[2], ARGV[3])
-- Patches the listing already reflects are done with: the hash holds only those still newer than a listing.
if #older > 0 then redis.call('HDEL', KEYS[3], unpack(older)) end
return #out
