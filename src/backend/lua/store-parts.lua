--[[
  store-parts.lua: store the metas of several chord header parts and count
  each in its chord with store_part (from store-part.lua), in one call, one
  part after the other: a worker's chord part reports of one event-loop turn.

  KEYS      six per part, as store_part takes them (the meta key, then the
            chord's .j .t .s .p .d keys)
  ARGV[1]   expiry in seconds ("0" = keys never expire)
  ARGV      then five per part: meta JSON text, task id, chord member text,
            member score, redelivered flag

  Returns one reply per part, in order: { stored, chord, members... } as
  store_part describes.
]]
local ttl = tonumber(ARGV[1])
local out = {}
for i = 0, #KEYS / 6 - 1 do
  local k, a = i * 6, 1 + i * 5
  local keys = { KEYS[k + 1], KEYS[k + 2], KEYS[k + 3], KEYS[k + 4], KEYS[k + 5], KEYS[k + 6] }
  out[i + 1] = store_part(keys, ARGV[a + 1], ttl, ARGV[a + 2], ARGV[a + 3], ARGV[a + 4], ARGV[a + 5])
end
return out
