--[[
  store-many.lua: store several task metas that are not chord parts with
  store_meta (from store-meta.lua: GET, never overwrite SUCCESS, SETEX +
  PUBLISH), in one call: a worker's result stores of one event-loop turn.

  KEYS[i]    celery-task-meta-<id> of the i-th meta
  ARGV[1]    expiry in seconds ("0" = keys never expire)
  ARGV[i+1]  the i-th meta JSON text

  Returns one flag per meta: 1 = written and published, 0 = a SUCCESS was kept.
]]
local ttl = tonumber(ARGV[1])
local out = {}
for i = 1, #KEYS do out[i] = store_meta(KEYS[i], ARGV[i + 1], ttl) end
return out
