--[[
  take.lua: publish a message to a queue that a consumer of the publishing
  process consumes, and take it for that consumer at once when nothing is
  waiting in the queue (every priority list empty): it is recorded in
  unacked/unacked_index exactly as pop.lua records a message it pops, and
  never pushed. The state afterwards is the one a push followed by that
  consumer's pop leaves, in one round trip instead of two (a chain step sent
  by a worker to its own queue). When messages are waiting it is pushed as
  publish.lua pushes it, behind them, unless ARGV[9] is "1": the publisher
  hands it to its consumer before the reply comes (an eager take), so it is
  taken whatever waits, and the reply says that something did.

  KEYS[1..4]  the queue's lists for priority steps 0, 3, 6, 9
  KEYS[5]     unacked
  KEYS[6]     unacked_index
  KEYS[7]     the consumer's take claim key: "<token>\n<tag>" is written when
              taken, so that a publisher whose reply was lost can tell
  KEYS[8]     the consumer's idle registration (see hand.lua): one fewer
              message is handed to it for each taken
  ARGV[1]     the envelope text
  ARGV[2]     which of KEYS[1..4] the message belongs to (1-based)
  ARGV[3]     the queue's wake channel
  ARGV[4]     the delivery tag (the envelope's properties.delivery_tag)
  ARGV[5]     the unacked_index score: the current epoch time in seconds
  ARGV[6]     the queue's name as a JSON string literal
  ARGV[7]     claim key TTL in seconds
  ARGV[8]     claim token
  ARGV[9]     "1": take it even when messages are waiting (eager), else "0"
  ARGV[10]    "0": an eager take its consumer started and acked as it was
              handed over: nothing is recorded (no unacked entry, no claim;
              ARGV[1] is empty), as a record removed by its ack at once
              would leave it; "1": recorded

  Returns 1 when taken with nothing waiting, 0 when pushed, 2 when taken
  eagerly while messages were waiting.
]]
local taken = 1
if waiting(KEYS) then
  if ARGV[9] ~= '1' then
    local n = redis.call('LPUSH', KEYS[tonumber(ARGV[2])], ARGV[1])
    if n == 1 then redis.call('PUBLISH', ARGV[3], '1') end
    return 0
  end
  taken = 2
end
if ARGV[10] ~= '0' then
  record(KEYS[5], KEYS[6], ARGV[4], ARGV[5], ARGV[1], ARGV[6])
  redis.call('SET', KEYS[7], ARGV[8] .. '\n' .. ARGV[4], 'EX', ARGV[7])
end
use_registration(KEYS[8])
return taken
