--[[
  ack.lua: settle a delivery for good (kombu's ack: ZREM + HDEL), but only if
  the unacked record is still the one this consumer made. If a visibility
  sweep restored the message and another consumer took it under the same tag,
  its record has another score and is left alone.

  KEYS[1]  unacked
  KEYS[2]  unacked_index
  ARGV[1]  delivery tag
  ARGV[2]  the score the record was made with

  Returns 1 when the record was removed, 0 when it was no longer ours.
]]
local cur = redis.call('ZSCORE', KEYS[2], ARGV[1])
if not cur or tonumber(cur) ~= tonumber(ARGV[2]) then return 0 end
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('HDEL', KEYS[1], ARGV[1])
return 1
