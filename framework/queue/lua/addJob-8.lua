--[[
  addJob: add one job (waiting, prioritized or delayed), or return the existing one for a known job id.

  KEYS[1] wait          list of ready job ids
  KEYS[2] prioritized   zset of ready job ids by priority
  KEYS[3] delayed       zset of job ids by due time (ms)
  KEYS[4] meta          queue hash (paused flag)
  KEYS[5] id            job id counter
  KEYS[6] pc            priority counter
  KEYS[7] events        event stream
  KEYS[8] marker        zset workers block on

  ARGV[1] key base, "{prefix:queue}:"
  ARGV[2] custom job id, or "" for a generated one
  ARGV[3] name
  ARGV[4] data (JSON)
  ARGV[5] opts (JSON)
  ARGV[6] timestamp (ms)
  ARGV[7] delay (ms)
  ARGV[8] priority (0 = none)
  ARGV[9] lifo ("1" or "0")
  ARGV[10] max events (approximate stream length)

  Returns {jobId, 1} when added, {jobId, 0} when a job with that id already existed (nothing written).
]]
--- @include "emit"
--- @include "pushReady"
--- @include "addOneJob"
local jobId, created, wake = addOneJob(KEYS, ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], tonumber(ARGV[6]),
  tonumber(ARGV[7]), tonumber(ARGV[8]), ARGV[9] == "1", ARGV[10])
if wake == 1 and redis.call("HEXISTS", KEYS[4], "paused") == 0 then
  redis.call("ZADD", KEYS[8], 0, "0")
end
return {jobId, created}
