--[[
  cancelJob: cancel one job. A waiting, prioritized, paused or delayed job moves to failed at once with the
  reason "cancelled" (no retry). An active job is flagged (`cancel` field of its hash) and its worker is told
  on the queue's shard channel; the worker stops the handler and fails the job the same way. A worker that
  missed the message sees the flag at its next lock renewal; the stall check and releaseJobs honour it too.

  KEYS[1] wait, KEYS[2] prioritized, KEYS[3] delayed, KEYS[4] active, KEYS[5] completed, KEYS[6] failed,
  KEYS[7] events

  ARGV[1] key base, ARGV[2] job id, ARGV[3] now (ms), ARGV[4] max events, ARGV[5] failed keep count
  (-1 = all, 0 = remove the job), ARGV[6] failed keep age (ms, 0 = any), ARGV[7] cancel channel

  Returns 1 cancelled now, 2 cancellation requested from the job's worker, 0 finished or unknown job.
  Retention indexes of the failed set (<failed>:uncounted, :counted, :expiry) are named after KEYS[6], in its
  hash tag: see includes/trimFinished.lua.
]]
--- @include "emit"
--- @include "removeJobKeys"
--- @include "trimFinished"
--- @include "pushReady"
--- @include "flowParent"
--- @include "removeFromGroup"
local base, jobId = ARGV[1], ARGV[2]
local jobKey = base .. jobId
if redis.call("EXISTS", jobKey) == 0 then return 0 end
if redis.call("ZSCORE", KEYS[5], jobId) or redis.call("ZSCORE", KEYS[6], jobId) then return 0 end
if redis.call("ZSCORE", KEYS[4], jobId) then
  redis.call("HSET", jobKey, "cancel", "1")
  -- Shard channel (same slot as the queue's keys on a cluster); plain pub/sub on servers before 7.0.
  if not pcall(redis.call, "SPUBLISH", ARGV[7], jobId) then
    redis.call("PUBLISH", ARGV[7], jobId)
  end
  return 2
end
local removed = redis.call("LREM", KEYS[1], 0, jobId) + redis.call("ZREM", KEYS[2], jobId)
  + redis.call("ZREM", KEYS[3], jobId) + removeFromGroup(base, jobId)
if removed == 0 then return 0 end
local now = tonumber(ARGV[3])
local keepCount = tonumber(ARGV[5])
local attempts = redis.call("HGET", jobKey, "attemptsMade") or 0
emit(KEYS[7], ARGV[4], "failed", "jobId", jobId, "failedReason", "cancelled", "attemptsMade", attempts)
flowJobFinished(jobKey, redis.call("HGET", jobKey, "parentKey"), "failed", "cancelled", now, ARGV[4])
if keepCount == 0 then
  removeJobKeys(base, jobId)
else
  redis.call("HSET", jobKey, "failedReason", "cancelled", "finishedOn", now)
  local failedSet = finishedSetOf(KEYS[6])
  addFinished(failedSet, jobId, now, keepCount, tonumber(ARGV[6]))
  trimFinished(failedSet, base, keepCount, now)
end
return 1
