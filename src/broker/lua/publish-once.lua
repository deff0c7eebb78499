--[[
  publish-once.lua: publish.lua for a message that must reach its queue at
  most once per task id (a chord body, which a completer that died after
  sending it sends again when its own message is redelivered). The marker and
  the push are one script call, so there is no moment at which the message
  was pushed but not marked, or marked but not pushed.

  KEYS[1]  the queue's list for the message's priority step
  KEYS[2]  the message's sent marker (_celeriac.sent.<task id>)
  ARGV[1]  the envelope text
  ARGV[2]  the queue's wake channel
  ARGV[3]  how long the marker is kept, seconds

  Returns the list length after the push, or -1 when the marker was there
  (the message had been pushed before; nothing changed).
]]
if not redis.call('SET', KEYS[2], '1', 'NX', 'EX', ARGV[3]) then return -1 end
local n = redis.call('LPUSH', KEYS[1], ARGV[1])
if n == 1 then redis.call('PUBLISH', ARGV[2], '1') end
return n
