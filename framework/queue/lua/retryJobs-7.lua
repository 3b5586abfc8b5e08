--[[
  retryJobs: move finished jobs (failed, or completed) back to wait for a fresh set of attempts.
  With a job id, only that job (it must be in the given finished set); without, up to `count` jobs.

  KEYS[1] finished set (failed or completed), KEYS[2] wait, KEYS[3] prioritized, KEYS[4] pc,
  KEYS[5] events, KEYS[6] marker, KEYS[7] meta
  ARGV[1] key base, ARGV[2] job id or "", ARGV[3] count, ARGV[4] max events, ARGV[5] previous state name

  Returns the number of jobs moved.
]]
--- @include "emit"
--- @include "pushReady"
local base = ARGV[1]
local ids
if ARGV[2] ~= "" then
  if not redis.call("ZSCORE", KEYS[1], ARGV[2]) then return 0 end
  ids = {ARGV[2]}
else
  ids = redis.call("ZRANGE", KEYS[1], 0, tonumber(ARGV[3]) - 1)
end
for _, jobId in ipairs(ids) do
  local jobKey = base .. jobId
  redis.call("ZREM", KEYS[1], jobId)
  if redis.call("EXISTS", jobKey) == 1 then
    redis.call("HDEL", jobKey, "finishedOn", "processedOn", "returnvalue", "failedReason", "stc")
    redis.call("HSET", jobKey, "attemptsMade", 0)
    local fields = redis.call("HMGET", jobKey, "priority", "lifo")
    pushReady(KEYS[2], KEYS[3], KEYS[4], jobId, tonumber(fields[1]) or 0, fields[2] == "1")
    emit(KEYS[5], ARGV[4], "waiting", "jobId", jobId, "prev", ARGV[5])
  end
end
if #ids > 0 and redis.call("HEXISTS", KEYS[7], "paused") == 0 then redis.call("ZADD", KEYS[6], 0, "0") end
return #ids
