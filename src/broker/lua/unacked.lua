--[[
  unacked.lua: what pop.lua, take.lua and hand.lua share, prepended to each
  (see withBrokerScripts).
]]

-- Any message waiting in a queue's four lists (KEYS-like table of its lists):
-- Redis deletes a list with its last element, so one that exists holds one.
local function waiting(lists)
  return redis.call('EXISTS', lists[1], lists[2], lists[3], lists[4]) > 0
end

-- Record a message taken for a consumer as kombu's QoS.append does: the
-- unacked entry [<envelope>, "", <queue>] and its unacked_index score.
-- `inner` is the envelope's JSON text, `queue_json` the queue's name as a JSON
-- string literal.
local function record(unacked, index, tag, score, inner, queue_json)
  redis.call('ZADD', index, score, tag)
  redis.call('HSET', unacked, tag, '[' .. inner .. ', "", ' .. queue_json .. ']')
end

-- One message fewer for an idle consumer's registration (see hand.lua):
-- counted down, dropped with its last. Returns the count it had, or nil.
local function use_registration(reg)
  local room = tonumber(redis.call('GET', reg))
  if room then
    if room > 1 then
      redis.call('DECR', reg)
    else
      redis.call('DEL', reg)
    end
  end
  return room
end
