--[[
  extendLocks: renew the locks of all of one worker's active jobs in one call, and report the jobs flagged
  for cancellation (a worker that missed the cancel message learns it here).

  KEYS[1] active
  ARGV[1] key base, ARGV[2] lock duration (ms), then pairs: job id, token

  Returns {lost, cancelled}: ids whose lock is no longer ours (expired and taken over, or the job was
  removed), and ids (still ours) whose cancellation was requested.
]]
local base = ARGV[1]
local lost, cancelled = {}, {}
for i = 3, #ARGV, 2 do
  local jobId, token = ARGV[i], ARGV[i + 1]
  local jobKey = base .. jobId
  local lockKey = jobKey .. ":lock"
  local lock = redis.call("GET", lockKey)
  local ours = lock == token
  if ours then
    redis.call("PEXPIRE", lockKey, ARGV[2])
  elseif not lock and redis.call("ZSCORE", KEYS[1], jobId) then
    -- The lock expired (a blocked event loop, a Redis outage). If nobody took the job over since (the
    -- token, workerId:ats, is still the job's current attempt), take it back: the stall check leaves a job
    -- alone until its lock has been missing for a whole check interval.
    local ats = redis.call("HGET", jobKey, "ats")
    if ats and string.sub(token, -(#ats + 1)) == ":" .. ats then
      redis.call("SET", lockKey, token, "PX", ARGV[2])
      ours = true
    else
      lost[#lost + 1] = jobId
    end
  else
    lost[#lost + 1] = jobId
  end
  if ours and redis.call("HGET", jobKey, "cancel") == "1" then
    cancelled[#cancelled + 1] = jobId
  end
end
return {lost, cancelled}
