--[[
  hand.lua: publish one message to a queue, handing it to an idle celeriac
  consumer of that queue when nothing waits in it: recorded in unacked /
  unacked_index for that consumer, exactly as pop.lua records a message it
  pops, and sent to the consumer on its push channel, never pushed on the
  list. The state afterwards is the one a push followed by that consumer's
  pop leaves, with the message on its way to the consumer already instead of
  a wake-up followed by a pop's round trip. When messages are waiting, or no
  idle consumer is registered or reachable, it is pushed as publish.lua
  pushes it, and idle consumers are woken to find what waits.

  An idle consumer is registered by pop.lua when it found its queues empty:
  its id in each of its queues' idlers sets, and its registration key
  holding how many more messages it takes. A registration whose consumer is
  gone (no subscriber on its push channel) is dropped here, and the message
  goes to the next one or to the list.

  KEYS[1..4]  the queue's lists for priority steps 0, 3, 6, 9
  KEYS[5]     unacked
  KEYS[6]     unacked_index
  KEYS[7]     the queue's idlers set (consumer ids)
  ARGV[1]     the envelope text
  ARGV[2]     which of KEYS[1..4] the message belongs to (1-based)
  ARGV[3]     the queue's wake channel
  ARGV[4]     the delivery tag (the envelope's properties.delivery_tag)
  ARGV[5]     the unacked_index score: the current epoch time in seconds
  ARGV[6]     the queue's name as a JSON string literal
  ARGV[7]     the prefix of registration keys (the consumer id follows)
  ARGV[8]     the prefix of push channels (the consumer id follows)
  ARGV[9]     the prefix of push claim keys (the consumer id follows): the
              last 64 "<tag> <score>" handed to that consumer, so that one
              whose push channel dropped a message can find it
  ARGV[10]    push claim TTL in seconds

  The consumer receives "<tag>\n<score>\n<queue JSON>\n<envelope>".
  Returns 0 when handed to a consumer, else the list's length after the push.
]]
if not waiting(KEYS) then
  local tag, score = ARGV[4], ARGV[5]
  for _ = 1, 4 do
    local id = redis.call('SRANDMEMBER', KEYS[7])
    if not id then break end
    local reg = ARGV[7] .. id
    local room = use_registration(reg)
    -- Room for more: it stays among the queue's idlers; else it leaves them.
    if not room or room <= 1 then redis.call('SREM', KEYS[7], id) end
    if room and room > 0 then
      record(KEYS[5], KEYS[6], tag, score, ARGV[1], ARGV[6])
      local claim = ARGV[9] .. id
      if redis.call('LPUSH', claim, tag .. ' ' .. score) > 64 then redis.call('LTRIM', claim, 0, 63) end
      redis.call('EXPIRE', claim, ARGV[10])
      if redis.call('PUBLISH', ARGV[8] .. id, tag .. '\n' .. score .. '\n' .. ARGV[6] .. '\n' .. ARGV[1]) > 0 then
        return 0
      end
      -- Nobody listens on its channel: the consumer is gone. Undo, and drop its registration.
      redis.call('ZREM', KEYS[6], tag)
      redis.call('HDEL', KEYS[5], tag)
      redis.call('LPOP', claim)
      redis.call('DEL', reg)
      redis.call('SREM', KEYS[7], id)
    end
  end
end
local n = redis.call('LPUSH', KEYS[tonumber(ARGV[2])], ARGV[1])
-- Wake the consumers when the list was empty, or when one idles while messages wait (queued without a
-- wake-up, by a Python publisher): they would find them only at their next poll.
if n == 1 or redis.call('EXISTS', KEYS[7]) == 1 then redis.call('PUBLISH', ARGV[3], '1') end
return n
