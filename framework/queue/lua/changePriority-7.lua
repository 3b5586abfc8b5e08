--[[
  changePriority: give a job another priority (0 = none; lower runs first). A job that is ready to run
  (waiting or prioritized) moves to its new place at the end of that priority; a delayed, active or
  finished job keeps it for its next turn.

  KEYS[1] job hash, KEYS[2] wait, KEYS[3] prioritized, KEYS[4] pc, KEYS[5] marker, KEYS[6] meta,
  KEYS[7] events
  ARGV[1] job id, ARGV[2] priority, ARGV[3] max events

  Returns 1, -1 when the job is gone, -2 when it belongs to a fair group (groups have no priorities).
]]
--- @include "emit"
--- @include "pushReady"
local jobId, priority = ARGV[1], tonumber(ARGV[2])
local f = redis.call("HMGET", KEYS[1], "name", "gid", "lifo")
if not f[1] then return -1 end
if f[2] then return -2 end
redis.call("HSET", KEYS[1], "priority", priority)
if redis.call("ZREM", KEYS[3], jobId) == 1 or redis.call("LREM", KEYS[2], 0, jobId) > 0 then
  pushReady(KEYS[2], KEYS[3], KEYS[4], jobId, priority, f[3] == "1")
  if redis.call("HEXISTS", KEYS[6], "paused") == 0 then redis.call("ZADD", KEYS[5], 0, "0") end
end
emit(KEYS[7], ARGV[3], "priority", "jobId", jobId, "priority", priority)
return 1
