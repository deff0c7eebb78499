--[[
  store-meta.lua: not a script of its own; the backend puts it in front of
  store-many.lua and store-parts.lua, which both store metas this way.

  store_meta(key, meta, ttl) stores one task meta as Celery's Redis backend
  does: GET, never overwrite SUCCESS, else SETEX (SET when ttl is 0) and
  PUBLISH on the key's name. Returns 1 when written and published, 0 when a
  SUCCESS was kept.
]]
local function is_success(text)
  -- Celery (and celeriac) write "status" first; parse only when that fails.
  if string.find(text, '^%s*{%s*"status"%s*:%s*"SUCCESS"') then return true end
  local ok, prev = pcall(cjson.decode, text)
  return ok and type(prev) == 'table' and prev['status'] == 'SUCCESS'
end

local function store_meta(key, meta, ttl)
  local prev = redis.call('GET', key)
  if prev and is_success(prev) then return 0 end
  if ttl > 0 then
    redis.call('SETEX', key, ttl, meta)
  else
    redis.call('SET', key, meta)
  end
  redis.call('PUBLISH', key, meta)
  return 1
end
