--[[
  getState: the state of one job.

  KEYS[1] completed, KEYS[2] failed, KEYS[3] delayed, KEYS[4] active, KEYS[5] prioritized, KEYS[6] wait,
  KEYS[7] meta, KEYS[8] job hash, KEYS[9] waiting-children
  ARGV[1] job id

  Returns "completed" | "failed" | "delayed" | "active" | "prioritized" | "waiting" | "paused" |
  "waiting-children" | "unknown".
]]
local jobId = ARGV[1]
if redis.call("EXISTS", KEYS[8]) == 0 then return "unknown" end
if redis.call("ZSCORE", KEYS[1], jobId) then return "completed" end
if redis.call("ZSCORE", KEYS[2], jobId) then return "failed" end
if redis.call("ZSCORE", KEYS[3], jobId) then return "delayed" end
if redis.call("ZSCORE", KEYS[4], jobId) then return "active" end
if redis.call("ZSCORE", KEYS[5], jobId) then return "prioritized" end
if redis.call("ZSCORE", KEYS[9], jobId) then return "waiting-children" end
if redis.call("LPOS", KEYS[6], jobId) then
  if redis.call("HEXISTS", KEYS[7], "paused") == 1 then return "paused" end
  return "waiting"
end
-- A job of a fair group waits in its group's list (groups.lua); same slot, key named after the hash's.
local gid = redis.call("HGET", KEYS[8], "gid")
if gid then
  local base = string.sub(KEYS[8], 1, #KEYS[8] - #jobId)
  if redis.call("LPOS", base .. "g:" .. gid, jobId) then
    if redis.call("HEXISTS", KEYS[7], "paused") == 1 or redis.call("SISMEMBER", base .. "gpaused", gid) == 1 then
      return "paused"
    end
    return "waiting"
  end
end
return "unknown"
