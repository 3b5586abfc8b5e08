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
local base = ARGV[1]
local jobId = ARGV[2]
local maxEvents = ARGV[10]
if jobId == "" then
  jobId = tostring(redis.call("INCR", KEYS[5]))
elseif redis.call("EXISTS", base .. jobId) == 1 then
  emit(KEYS[7], maxEvents, "duplicated", "jobId", jobId)
  return {jobId, 0}
end
local jobKey = base .. jobId
local timestamp = tonumber(ARGV[6])
local delay = tonumber(ARGV[7])
local priority = tonumber(ARGV[8])
redis.call("HSET", jobKey, "name", ARGV[3], "data", ARGV[4], "opts", ARGV[5], "timestamp", timestamp,
  "delay", delay, "priority", priority, "attemptsMade", 0)
if ARGV[9] == "1" then redis.call("HSET", jobKey, "lifo", "1") end
emit(KEYS[7], maxEvents, "added", "jobId", jobId, "name", ARGV[3])
if delay > 0 then
  redis.call("ZADD", KEYS[3], timestamp + delay, jobId)
  emit(KEYS[7], maxEvents, "delayed", "jobId", jobId, "delay", timestamp + delay)
  -- Wake a blocked worker so it shortens its wait if this job falls due before the ones it knew of.
  redis.call("ZADD", KEYS[8], 0, "0")
else
  pushReady(KEYS[1], KEYS[2], KEYS[6], jobId, priority, ARGV[9] == "1")
  emit(KEYS[7], maxEvents, "waiting", "jobId", jobId)
  if redis.call("HEXISTS", KEYS[4], "paused") == 0 then
    redis.call("ZADD", KEYS[8], 0, "0")
  end
end
return {jobId, 1}
