--[[
  releaseJobs: a worker that shuts down hands its unfinished jobs straight back to the front of the wait
  list, instead of leaving them locked until the stall check finds them. The attempt is not counted. A job
  whose cancellation was requested meanwhile fails with the reason "cancelled" instead.

  KEYS[1] active, KEYS[2] wait, KEYS[3] events, KEYS[4] marker, KEYS[5] failed
  ARGV[1] key base, ARGV[2] max events, ARGV[3] now (ms), ARGV[4] failed keep count, ARGV[5] failed keep
  age (ms), then pairs: job id, token

  Returns the number of jobs handed back (jobs whose lock is not ours any more are left alone).
  Retention indexes of the failed set (<failed>:uncounted, :counted, :expiry) are named after KEYS[5], in its
  hash tag: see includes/trimFinished.lua.
]]
--- @include "emit"
--- @include "removeJobKeys"
--- @include "trimFinished"
--- @include "incrField"
--- @include "pushReady"
--- @include "flowParent"
local base = ARGV[1]
local now = tonumber(ARGV[3])
local released = 0
for i = 6, #ARGV, 2 do
  local jobId, token = ARGV[i], ARGV[i + 1]
  local jobKey = base .. jobId
  local lockKey = jobKey .. ":lock"
  local lock = redis.call("GET", lockKey)
  local ours = lock == token
  if not lock then
    -- An expired lock: still ours if nobody fetched the job since (the token ends with its start count).
    local ats = redis.call("HGET", jobKey, "ats")
    ours = ats ~= false and string.sub(token, -(#ats + 1)) == ":" .. ats
  end
  if ours and redis.call("ZREM", KEYS[1], jobId) == 1 then
    redis.call("DEL", lockKey)
    if redis.call("HGET", jobKey, "cancel") == "1" then
      redis.call("HDEL", jobKey, "cancel")
      local attempts = incrField(jobKey, "attemptsMade")
      redis.call("HSET", jobKey, "failedReason", "cancelled", "finishedOn", now)
      local failedSet = finishedSetOf(KEYS[5])
      addFinished(failedSet, jobId, now, tonumber(ARGV[4]), tonumber(ARGV[5]))
      emit(KEYS[3], ARGV[2], "failed", "jobId", jobId, "failedReason", "cancelled", "attemptsMade", attempts)
      flowJobFinished(jobKey, redis.call("HGET", jobKey, "parentKey"), "failed", "cancelled", now, ARGV[2])
      trimFinished(failedSet, base, tonumber(ARGV[4]), now)
    else
      redis.call("RPUSH", KEYS[2], jobId)
      emit(KEYS[3], ARGV[2], "waiting", "jobId", jobId, "prev", "active")
      released = released + 1
    end
  end
end
if released > 0 then redis.call("ZADD", KEYS[4], 0, "0") end
return released
