--[[
  pop.lua: take up to N messages from a consumer's queue lists and record each
  one as unacknowledged, in one atomic step. This is kombu's BRPOP followed by
  QoS.append (ZADD unacked_index + HSET unacked), without the window in which
  a crash between the pop and the record would lose the message.

  KEYS[1]    unacked        hash: delivery_tag -> JSON [envelope, "", queue]
  KEYS[2]    unacked_index  zset: delivery_tag -> epoch seconds (float)
  KEYS[3]    claim key      string, written when anything was taken:
                            "<token>\n<tag>\n<tag>..." so that a consumer whose
                            reply was lost can find what this call recorded
  KEYS[4..]  the queue lists, priority step major, in kombu's BRPOP order:
             step 0 of every queue (in the consumer's round-robin order), then
             step 3, 6 and 9 of every queue. 4 + (s * Q) + (q - 1) is queue q's
             list for step index s.
  then       the consumer's registration key (see hand.lua): how many more
             messages it takes pushed while idle
  then       each queue's idlers set, in KEYS order
  ARGV[1]    most messages to take (>= 1)
  ARGV[2]    unacked_index score: the current epoch time in seconds
  ARGV[3]    Q, the number of queues
  ARGV[4]    claim token (unique per call); "<token>:<n>" is the delivery tag
             of a message that carries none
  ARGV[5]    claim key TTL in seconds
  ARGV[6..]  each queue's name as a JSON string literal, in KEYS order
  then       the consumer's room: how many messages it may hold more
  then       the consumer's id

  When it found every queue empty and room is left, it registers the
  consumer as idle, so that celeriac publishers hand it their next messages
  (hand.lua); otherwise it drops a registration the consumer had.

  Returns a flat array, three items per message taken, in delivery order:
    q    the queue's 1-based position in KEYS order
    tag  the delivery tag it was recorded under
    raw  the message text exactly as popped
  After each message, the queue that gave it moves to the end of the search
  order (kombu's round-robin rotation); the caller replays the same moves.

  A message that is not a JSON object is recorded with its text as a JSON
  string in place of the envelope, so `unacked` always holds valid JSON (a
  Python sweeper logs and drops such an entry instead of crashing).
]]
--[[
  The delivery tag of an envelope laid out as kombu and celeriac write it,
  read from the end of its text: properties is the envelope's last key and
  delivery_tag the last key of properties, so the text ends with
  `"delivery_tag": "<tag>"}}` (or without the space). nil when it does not;
  the envelope is then decoded (4 us for a short task message, about 11 for
  a chord part's, against well under 1 for this).
]]
local function tag_at_end(raw)
  local n = #raw
  if n < 24 or string.byte(raw, 1) ~= 123 or string.sub(raw, -3) ~= '"}}' then return nil end
  local from = n - 200
  if from < 1 then from = 1 end
  local _, e = string.find(raw, '"delivery_tag":"', from, true)
  if not e then _, e = string.find(raw, '"delivery_tag": "', from, true) end
  if not e then return nil end
  local tag = string.sub(raw, e + 1, n - 3)
  if tag == '' or string.find(tag, '["\\]') then return nil end
  return tag
end

local max = tonumber(ARGV[1])
local score = ARGV[2]
local nq = tonumber(ARGV[3])
local token = ARGV[4]
local nsteps = (#KEYS - 4 - nq) / nq

local order = {}
for i = 1, nq do order[i] = i end
local empty = {}
local out = {}
local tags = {}
local n = 0

while n < max do
  local raw, pos = nil, nil
  for s = 0, nsteps - 1 do
    for p = 1, nq do
      local k = 3 + s * nq + order[p]
      if not empty[k] then
        local v = redis.pcall('RPOP', KEYS[k])
        if type(v) == 'string' then
          raw = v
          pos = p
          break
        end
        -- nil (empty list) or an error such as WRONGTYPE: skip this key
        empty[k] = true
      end
    end
    if raw then break end
  end
  if not raw then break end

  n = n + 1
  local q = order[pos]
  table.remove(order, pos)
  order[nq] = q

  local inner = raw
  local tag = tag_at_end(raw)
  if not tag then
    local ok, env = pcall(cjson.decode, raw)
    if ok and type(env) == 'table' then
      local props = env['properties']
      if type(props) == 'table' and type(props['delivery_tag']) == 'string' and props['delivery_tag'] ~= '' then
        tag = props['delivery_tag']
      end
    else
      inner = cjson.encode(raw)
    end
  end
  if not tag then tag = token .. ':' .. n end

  record(KEYS[1], KEYS[2], tag, score, inner, ARGV[5 + q])

  tags[#tags + 1] = tag
  out[#out + 1] = q
  out[#out + 1] = tag
  out[#out + 1] = raw
end

if n > 0 then
  redis.call('SET', KEYS[3], token .. '\n' .. table.concat(tags, '\n'), 'EX', ARGV[5])
end

local reg = 4 + nsteps * nq
local room = tonumber(ARGV[6 + nq]) - n
if n < max and room > 0 then
  redis.call('SET', KEYS[reg], room, 'EX', ARGV[5])
  for i = 1, nq do
    redis.call('SADD', KEYS[reg + i], ARGV[7 + nq])
    redis.call('EXPIRE', KEYS[reg + i], ARGV[5])
  end
else
  redis.call('DEL', KEYS[reg])
end
return out
