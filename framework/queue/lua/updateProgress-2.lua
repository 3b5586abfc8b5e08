--[[
  updateProgress: store a job's progress and announce it.

  KEYS[1] job hash, KEYS[2] events
  ARGV[1] job id, ARGV[2] progress (JSON), ARGV[3] max events

  Returns 1, or 0 when the job no longer exists.
]]
--- @include "emit"
if redis.call("EXISTS", KEYS[1]) == 0 then return 0 end
redis.call("HSET", KEYS[1], "progress", ARGV[2])
emit(KEYS[2], ARGV[3], "progress", "jobId", ARGV[1], "data", ARGV[2])
return 1
