--[[
  ack.lua: settle deliveries for good (kombu's ack: ZREM + HDEL), each only if
  its unacked record is still the one this consumer made. If a visibility
  sweep restored a message and another consumer took it under the same tag,
  its record has another score and is left alone.

  KEYS[1]  unacked
  KEYS[2]  unacked_index
  ARGV     pairs: delivery tag, the score its record was made with (one
           pair or many: a consumer acks what settled in one tick at once)

  Returns how many records were removed (a pair whose record was no longer
  ours counts 0).
]]
local n = 0
for i = 1, #ARGV, 2 do
  local cur = redis.call('ZSCORE', KEYS[2], ARGV[i])
  if cur and tonumber(cur) == tonumber(ARGV[i + 1]) then
    redis.call('ZREM', KEYS[2], ARGV[i])
    redis.call('HDEL', KEYS[1], ARGV[i])
    n = n + 1
  end
end
return n
