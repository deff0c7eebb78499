--[[
  restore.lua: give an unacknowledged message back to its queue (kombu's
  restore_by_tag), as one compare-and-swap on the unacked record in place of
  kombu's WATCH transaction.

  KEYS[1]  unacked
  KEYS[2]  unacked_index
  KEYS[3]  destination list (the queue's list for the message's priority step)
  ARGV[1]  delivery tag
  ARGV[2]  the score the record must still have ("" = any)
  ARGV[3]  message text to push ("" = only drop the record)
  ARGV[4]  "R" = RPUSH (consumer-near end: cancel, visibility timeout),
           "L" = LPUSH (consumer-far end: reject with requeue)
  ARGV[5]  the queue's wake channel

  Returns 1 when the message was pushed back, 0 when the record was gone or
  no longer ours (then nothing changed), -1 when the record was dropped.
]]
local cur = redis.call('ZSCORE', KEYS[2], ARGV[1])
if not cur then return 0 end
if ARGV[2] ~= '' and tonumber(cur) ~= tonumber(ARGV[2]) then return 0 end
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('HDEL', KEYS[1], ARGV[1])
if ARGV[3] == '' then return -1 end
local n
if ARGV[4] == 'L' then
  n = redis.call('LPUSH', KEYS[3], ARGV[3])
else
  n = redis.call('RPUSH', KEYS[3], ARGV[3])
end
if n == 1 then redis.call('PUBLISH', ARGV[5], '1') end
return 1
