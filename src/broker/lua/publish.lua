--[[
  publish.lua: put one message on a queue list (kombu's LPUSH) and, when the
  list was empty, wake idle celeriac consumers of that queue.

  KEYS[1]  the queue's list for the message's priority step
  ARGV[1]  the envelope text
  ARGV[2]  the queue's wake channel

  Returns the list length after the push. Python consumers ignore the wake
  channel; celeriac consumers also poll, so a lost wake only costs latency.
]]
local n = redis.call('LPUSH', KEYS[1], ARGV[1])
if n == 1 then redis.call('PUBLISH', ARGV[2], '1') end
return n
