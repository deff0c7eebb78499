--[[
  store-result.lua: store a task meta as Celery's Redis backend does
  (store_meta, from store-meta.lua: GET, never overwrite SUCCESS, SETEX +
  PUBLISH), and, for a chord header part,
  count it in the chord in the same atomic step (Celery's
  on_chord_part_return, made atomic and idempotent).

  KEYS[1]  celery-task-meta-<id>
  With a chord part, also (G = the chord's group id):
  KEYS[2]  celery-taskset-meta-<G>.j  zset of parts: member [1, id, state, result], score = group index
  KEYS[3]  celery-taskset-meta-<G>.t  extra parts added by add_to_chord (integer)
  KEYS[4]  celery-taskset-meta-<G>.s  chord size, set by the client (integer)
  KEYS[5]  celery-taskset-meta-<G>.p  hash of the task ids that reported (counts each id once)
  KEYS[6]  celery-taskset-meta-<G>.d  the id of the part that completed the chord

  ARGV[1]  meta JSON text
  ARGV[2]  expiry in seconds ("0" = keys never expire)
  ARGV[3]  task id
  ARGV[4]  chord member text, JSON with Python's separators (chord only)
  ARGV[5]  chord member score: the group index, or "+inf" (chord only)
  ARGV[6]  "1" when the report comes from a redelivered message (chord only)

  Returns { stored, chord, members... }:
    stored  1 = meta written and published, 0 = a SUCCESS was kept
    chord   -1 = no chord part given, 0 = counted, not complete (or not this
            reporter's to complete), 1 = this report completed the chord: it
            is the first report that made count == size + extra, or a
            redelivered re-report of that same task id before chordDone
            deleted the keys (the completer died before sending the body); a
            copy of the part that was not redelivered never completes it again
    members when chord = 1: the .j members in group-index order
]]
local key = KEYS[1]
local meta = ARGV[1]
local ttl = tonumber(ARGV[2])
local id = ARGV[3]

local stored = store_meta(key, meta, ttl)

if #KEYS < 6 then return { stored, -1 } end

local j, t, s, p, d = KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]
if redis.call('HSETNX', p, id, '1') == 1 then
  redis.call('ZADD', j, ARGV[5], ARGV[4])
end
local count = redis.call('ZCARD', j)
local extra = tonumber(redis.call('GET', t) or '0') or 0
local size = redis.call('GET', s)
if ttl > 0 then
  for _, k in ipairs({ j, t, s, p, d }) do redis.call('EXPIRE', k, ttl) end
end
if not size then return { stored, 0 } end

local ready = false
local completer = redis.call('GET', d)
if completer then
  ready = (completer == id and ARGV[6] == '1')
elseif count == (tonumber(size) or -1) + extra then
  if ttl > 0 then
    redis.call('SETEX', d, ttl, id)
  else
    redis.call('SET', d, id)
  end
  ready = true
end
if not ready then return { stored, 0 } end

local out = { stored, 1 }
for _, m in ipairs(redis.call('ZRANGE', j, 0, -1)) do out[#out + 1] = m end
return out
