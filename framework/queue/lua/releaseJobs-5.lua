--[[
  releaseJobs: a worker that shuts down hands its unfinished jobs straight back to the front of the wait
  list, instead of leaving them locked until the stall check finds them. The attempt is not counted.

  KEYS[1] active, KEYS[2] wait, KEYS[3] events, KEYS[4] marker
  ARGV[1] key base, ARGV[2] max events, then pairs: job id, token

  Returns the number of jobs handed back (jobs whose lock is not ours any more are left alone).
]]
--- @include "emit"
local base = ARGV[1]
local released = 0
for i = 3, #ARGV, 2 do
  local jobId, token = ARGV[i], ARGV[i + 1]
  local lockKey = base .. jobId .. ":lock"
  local lock = redis.call("GET", lockKey)
  if (lock == token or not lock) and redis.call("ZREM", KEYS[1], jobId) == 1 then
    redis.call("DEL", lockKey)
    redis.call("RPUSH", KEYS[2], jobId)
    emit(KEYS[3], ARGV[2], "waiting", "jobId", jobId, "prev", "active")
    released = released + 1
  end
end
if released > 0 then redis.call("ZADD", KEYS[4], 0, "0") end
return released
