--[[
  publish.lua: put messages on a queue list (kombu's LPUSH, one message after
  the other, so the first published is the first popped) and, when the list
  was empty, wake idle celeriac consumers of that queue.

  KEYS[1]   the queue's list for the messages' priority step
  ARGV[1]   the queue's wake channel
  ARGV[2..] the envelope texts, in publish order

  Returns the list length after the push. Python consumers ignore the wake
  channel; celeriac consumers also poll, so a lost wake only costs latency.
]]
local n = redis.call('LPUSH', KEYS[1], unpack(ARGV, 2))
if n == #ARGV - 1 then redis.call('PUBLISH', ARGV[1], '1') end
return n
