--[[
  store-parts.lua: store the metas of several chord header parts and count
  each in its chord with store_part (from store-part.lua), in one call, one
  part after the other: a worker's chord part reports of one event-loop turn.
  Each chord's five keys are given once, however many of its parts report,
  and their expiry is refreshed once, after the last.

  KEYS      P meta keys, one per part; then five per chord: .j .t .s .p .d
  ARGV[1]   expiry in seconds ("0" = keys never expire)
  ARGV[2]   P, the number of parts
  ARGV      then six per part: meta JSON text, task id, chord member text,
            member score, redelivered flag, and which chord (1-based, in
            KEYS order)

  Returns one reply per part, in order: { stored, chord, members... } as
  store_part describes.
]]
local ttl = tonumber(ARGV[1])
local parts = tonumber(ARGV[2])
local out = {}
local touched = {}
for i = 0, parts - 1 do
  local a = 3 + i * 6
  local c = parts + (tonumber(ARGV[a + 5]) - 1) * 5
  local keys = { KEYS[i + 1], KEYS[c + 1], KEYS[c + 2], KEYS[c + 3], KEYS[c + 4], KEYS[c + 5] }
  touched[c] = true
  out[i + 1] = store_part(keys, ARGV[a], ttl, ARGV[a + 1], ARGV[a + 2], ARGV[a + 3], ARGV[a + 4])
end
if ttl > 0 then
  for c in pairs(touched) do
    for k = 1, 5 do redis.call('EXPIRE', KEYS[c + k], ttl) end
  end
end
return out
