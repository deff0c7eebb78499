--[[
  release-lock.lua: release a lock taken with SET key token NX PX ms (as
  redis-py's Lock does for kombu's `unacked_mutex`), only if we still own it.

  KEYS[1]  the lock key
  ARGV[1]  our token

  Returns 1 when released, 0 when the lock had expired or belongs to another.
]]
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
