--[[
  removeJob: delete a job that is not running, from whichever state it is in. A flow parent's children
  that have not finished are removed with it; a flow child leaves its parent's dependencies (the parent
  moves on when that was its last pending child). See includes/flowParent.lua.

  KEYS[1] wait, KEYS[2] prioritized, KEYS[3] delayed, KEYS[4] completed, KEYS[5] failed, KEYS[6] active,
  KEYS[7] events, KEYS[8] waiting-children
  ARGV[1] key base, ARGV[2] job id, ARGV[3] max events, ARGV[4] now (ms)

  Returns 1 removed, 0 no such job, -1 the job is active (locked by a worker: cancel it instead).
]]
--- @include "emit"
--- @include "pushReady"
--- @include "removeJobKeys"
--- @include "removeFromGroup"
--- @include "flowParent"
local base, jobId = ARGV[1], ARGV[2]
if redis.call("EXISTS", base .. jobId) == 0 then return 0 end
if redis.call("ZSCORE", KEYS[6], jobId) and redis.call("EXISTS", base .. jobId .. ":lock") == 1 then
  return -1
end
flowRemoveLinks(base .. jobId, tonumber(ARGV[4]) or 0, ARGV[3])
redis.call("LREM", KEYS[1], 0, jobId)
redis.call("ZREM", KEYS[2], jobId)
redis.call("ZREM", KEYS[3], jobId)
redis.call("ZREM", KEYS[4], jobId)
redis.call("ZREM", KEYS[5], jobId)
redis.call("ZREM", KEYS[6], jobId)
redis.call("ZREM", KEYS[8], jobId)
removeFromGroup(base, jobId)
removeJobKeys(base, jobId)
emit(KEYS[7], ARGV[3], "removed", "jobId", jobId)
return 1
