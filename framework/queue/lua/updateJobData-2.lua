--[[
  updateJobData: replace a job's data.

  KEYS[1] job hash, KEYS[2] events
  ARGV[1] job id, ARGV[2] data (JSON), ARGV[3] max events

  Returns 1, or -1 when the job is gone.
]]
--- @include "emit"
if redis.call("EXISTS", KEYS[1]) == 0 then return -1 end
redis.call("HSET", KEYS[1], "data", ARGV[2])
emit(KEYS[2], ARGV[3], "updated", "jobId", ARGV[1])
return 1
