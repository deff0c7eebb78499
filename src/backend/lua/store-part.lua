--[[
  store-part.lua: not a script of its own; the backend puts it (after
  store-meta.lua) in front of store-parts.lua.

  store_part(keys, meta, ttl, id, member, score, redelivered) stores the meta
  of a chord header part as Celery's Redis backend does (store_meta: GET,
  never overwrite SUCCESS, SETEX + PUBLISH) and counts the part in its chord
  in the same atomic step (Celery's on_chord_part_return, made atomic and
  idempotent). The caller refreshes the expiry of the chord's keys (once per
  chord per call: the script is atomic, so the keys end as if each part had
  refreshed them). G is the chord's group id:

  keys[1]  celery-task-meta-<id>
  keys[2]  celery-taskset-meta-<G>.j  zset of parts: member [1, id, state, result], score = group index
  keys[3]  celery-taskset-meta-<G>.t  extra parts added by add_to_chord (integer)
  keys[4]  celery-taskset-meta-<G>.s  chord size, set by the client (integer)
  keys[5]  celery-taskset-meta-<G>.p  hash of the task ids that reported (counts each id once)
  keys[6]  celery-taskset-meta-<G>.d  the id of the part that completed the chord

  meta         the meta JSON text
  ttl          expiry in seconds (0 = keys never expire)
  id           the task id
  member       the chord member text, JSON with Python's separators
  score        the member's score: the group index, or "+inf"
  redelivered  "1" when the report comes from a redelivered message

  Returns { stored, chord, members... }:
    stored  1 = meta written and published, 0 = a SUCCESS was kept
    chord   0 = counted, not complete (or not this reporter's to complete),
            1 = this report completed the chord: it is the first report that
            made count == size + extra, or a redelivered re-report of that
            same task id before chordDone deleted the keys (the completer
            died before sending the body); a copy of the part that was not
            redelivered never completes it again
    members when chord = 1: the .j members in group-index order
]]
local function store_part(keys, meta, ttl, id, member, score, redelivered)
  local stored = store_meta(keys[1], meta, ttl)
  local j, t, s, p, d = keys[2], keys[3], keys[4], keys[5], keys[6]
  if redis.call('HSETNX', p, id, '1') == 1 then
    redis.call('ZADD', j, score, member)
  end
  local count = redis.call('ZCARD', j)
  local extra = tonumber(redis.call('GET', t) or '0') or 0
  local size = redis.call('GET', s)
  if not size then return { stored, 0 } end

  local ready = false
  local completer = redis.call('GET', d)
  if completer then
    ready = (completer == id and redelivered == '1')
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
end
