--[[
  extendLocks: renew the locks of all of one worker's active jobs in one call.

  KEYS[1] active
  ARGV[1] key base, ARGV[2] lock duration (ms), then pairs: job id, token

  Returns the ids whose lock is no longer ours (expired and taken over, or the job was removed).
]]
local base = ARGV[1]
local lost = {}
for i = 3, #ARGV, 2 do
  local jobId, token = ARGV[i], ARGV[i + 1]
  local lockKey = base .. jobId .. ":lock"
  local lock = redis.call("GET", lockKey)
  if lock == token then
    redis.call("PEXPIRE", lockKey, ARGV[2])
  elseif not lock and redis.call("ZSCORE", KEYS[1], jobId) and redis.call("EXISTS", base .. jobId) == 1 then
    -- The lock expired (e.g. a blocked event loop) but nobody took the job over yet: take it back.
    redis.call("SET", lockKey, token, "PX", ARGV[2])
  else
    lost[#lost + 1] = jobId
  end
end
return lost
