--[[
  moveStalledJobsToWait: find active jobs whose worker died or lost contact and move them back to wait, or
  to failed once they stalled more than maxStalledCount times (or when their cancellation was requested).
  Runs at most once per interval for the whole queue, whichever worker gets there first.

  Two phases, so a live worker whose locks expired (a blocked event loop, a Redis restart that outlived the
  lock TTL) gets one whole interval to take them back (extendLocks) before its jobs are given to others:
  1. candidates of the previous check that still have no lock (and are still active) have stalled;
  2. active jobs without a lock now become the candidates of the next check.

  KEYS[1] active, KEYS[2] wait, KEYS[3] prioritized, KEYS[4] pc, KEYS[5] failed, KEYS[6] stalled-check,
  KEYS[7] events, KEYS[8] marker, KEYS[9] stalled (set of candidates)

  ARGV[1] key base, ARGV[2] now (ms), ARGV[3] max stalled count, ARGV[4] check interval (ms),
  ARGV[5] max events, ARGV[6] failed keep count, ARGV[7] failed keep age (ms)

  Returns {stalledIds, failedIds}, or false when another worker ran the check within the interval.
  Retention indexes of the failed set (<failed>:uncounted, :counted, :expiry) are named after KEYS[5], in its
  hash tag: see includes/trimFinished.lua.
]]
--- @include "emit"
--- @include "pushReady"
--- @include "removeJobKeys"
--- @include "trimFinished"
--- @include "incrField"
--- @include "flowParent"
if not redis.call("SET", KEYS[6], ARGV[2], "PX", ARGV[4], "NX") then
  return false
end
local base = ARGV[1]
local now = tonumber(ARGV[2])
local maxStalled = tonumber(ARGV[3])
local maxEvents = ARGV[5]
local stalled, failed = {}, {}

local function fail(jobId, jobKey, reason)
  redis.call("HDEL", jobKey, "cancel")
  local attempts = incrField(jobKey, "attemptsMade")
  redis.call("HSET", jobKey, "failedReason", reason, "finishedOn", now)
  local failedSet = finishedSetOf(KEYS[5])
  addFinished(failedSet, jobId, now, tonumber(ARGV[6]), tonumber(ARGV[7]))
  emit(KEYS[7], maxEvents, "failed", "jobId", jobId, "failedReason", reason, "attemptsMade", attempts)
  flowJobFinished(jobKey, redis.call("HGET", jobKey, "parentKey"), "failed", reason, now, maxEvents)
  trimFinished(failedSet, base, tonumber(ARGV[6]), now)
  failed[#failed + 1] = jobId
end

for _, jobId in ipairs(redis.call("SMEMBERS", KEYS[9])) do
  local jobKey = base .. jobId
  if redis.call("EXISTS", jobKey .. ":lock") == 0 and redis.call("ZREM", KEYS[1], jobId) == 1
      and redis.call("TYPE", jobKey)["ok"] == "hash" then
    local count = incrField(jobKey, "stc")
    if redis.call("HGET", jobKey, "cancel") == "1" then
      fail(jobId, jobKey, "cancelled")
    elseif count > maxStalled then
      fail(jobId, jobKey, "job stalled more than the allowed " .. maxStalled .. " time(s): its worker died or "
        .. "blocked its event loop longer than the lock duration")
    else
      -- Back to the front of the line: it was already due once.
      redis.call("RPUSH", KEYS[2], jobId)
      emit(KEYS[7], maxEvents, "stalled", "jobId", jobId)
      emit(KEYS[7], maxEvents, "waiting", "jobId", jobId, "prev", "active")
      stalled[#stalled + 1] = jobId
    end
  end
end
redis.call("DEL", KEYS[9])
for _, jobId in ipairs(redis.call("ZRANGE", KEYS[1], 0, -1)) do
  if redis.call("EXISTS", base .. jobId .. ":lock") == 0 then
    redis.call("SADD", KEYS[9], jobId)
  end
end
if #stalled > 0 then redis.call("ZADD", KEYS[8], 0, "0") end
return {stalled, failed}
