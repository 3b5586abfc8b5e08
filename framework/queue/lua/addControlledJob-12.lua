--[[
  addControlledJob: add one job with deduplication and/or a fair group (see control.py); jobs without
  either go through addJobs. Like addJob otherwise: waiting, delayed, or the existing job for a known id.

  KEYS[1] wait, KEYS[2] prioritized, KEYS[3] delayed, KEYS[4] meta, KEYS[5] id, KEYS[6] pc, KEYS[7] events,
  KEYS[8] marker
  KEYS[9]  deduplication key `base.."de:"..id` (any key of the queue when ARGV[11] is "")
  KEYS[10] the group's waiting list `base.."g:"..gid` (any key of the queue when ARGV[15] is "")
  KEYS[11] groups ring, KEYS[12] paused groups (set)

  ARGV[1] key base, ARGV[2] custom job id or "", ARGV[3] name, ARGV[4] data (JSON), ARGV[5] opts (JSON),
  ARGV[6] timestamp (ms), ARGV[7] delay (ms), ARGV[8] priority, ARGV[9] lifo ("1"/"0"),
  ARGV[10] max events,
  ARGV[11] deduplication id or "", ARGV[12] its ttl (ms, 0 = until the job finishes), ARGV[13] extend
  ("1"/"0"), ARGV[14] replace ("1"/"0"),
  ARGV[15] group id or ""

  Deduplication: the key holds the first job's id (with the ttl as its expiry). While it holds (ttl not
  over; without ttl: while that job exists and has not finished), the add writes no job: it emits
  `deduplicated`, restarts the ttl when `extend`, and when `replace` and the job is still delayed, replaces
  its data and options and restarts its delay.

  Returns {jobId, created (1 added, 0 existing or deduplicated), deduplicated (1/0)}.
]]
--- @include "emit"
--- @include "pushReady"
--- @include "groups"
local base, customId, name, data, opts = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local timestamp, delay, priority, lifo = tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8]), ARGV[9] == "1"
local maxEvents = ARGV[10]
local dedupId, ttl, extend, replace = ARGV[11], tonumber(ARGV[12]), ARGV[13] == "1", ARGV[14] == "1"
local gid = ARGV[15]

if dedupId ~= "" then
  local existing = redis.call("GET", KEYS[9])
  if existing then
    local holds
    local f = redis.call("HMGET", base .. existing, "name", "finishedOn")
    if redis.call("PTTL", KEYS[9]) > 0 then
      holds = true
    else
      holds = f[1] and not f[2]
    end
    if holds then
      if replace and f[1] and redis.call("ZSCORE", KEYS[3], existing) then
        redis.call("HSET", base .. existing, "data", data, "opts", opts, "delay", delay, "timestamp", timestamp)
        redis.call("ZADD", KEYS[3], timestamp + delay, existing)
        emit(KEYS[7], maxEvents, "delayed", "jobId", existing, "delay", timestamp + delay)
      end
      if extend and ttl > 0 then redis.call("PEXPIRE", KEYS[9], ttl) end
      emit(KEYS[7], maxEvents, "deduplicated", "jobId", existing, "deduplicationId", dedupId,
        "deduplicatedJobId", customId)
      return {existing, 0, 1}
    end
  end
end

local jobId = customId
if jobId == "" then
  jobId = tostring(redis.call("INCR", KEYS[5]))
elseif redis.call("EXISTS", base .. jobId) == 1 then
  emit(KEYS[7], maxEvents, "duplicated", "jobId", jobId)
  return {jobId, 0, 0}
end
local jobKey = base .. jobId
redis.call("HSET", jobKey, "name", name, "data", data, "opts", opts, "timestamp", timestamp,
  "delay", delay, "priority", priority, "attemptsMade", 0)
if lifo then redis.call("HSET", jobKey, "lifo", "1") end
if dedupId ~= "" then
  redis.call("HSET", jobKey, "deid", dedupId)
  if ttl > 0 then
    redis.call("SET", KEYS[9], jobId, "PX", ttl)
  else
    redis.call("SET", KEYS[9], jobId)
  end
end
if gid ~= "" then redis.call("HSET", jobKey, "gid", gid) end
emit(KEYS[7], maxEvents, "added", "jobId", jobId, "name", name)
local wake = 1
if delay > 0 then
  redis.call("ZADD", KEYS[3], timestamp + delay, jobId)
  emit(KEYS[7], maxEvents, "delayed", "jobId", jobId, "delay", timestamp + delay)
elseif gid ~= "" then
  wake = pushGroup(base, gid, jobId, lifo)
  emit(KEYS[7], maxEvents, "waiting", "jobId", jobId)
else
  pushReady(KEYS[1], KEYS[2], KEYS[6], jobId, priority, lifo)
  emit(KEYS[7], maxEvents, "waiting", "jobId", jobId)
end
if wake > 0 and redis.call("HEXISTS", KEYS[4], "paused") == 0 then
  redis.call("ZADD", KEYS[8], 0, "0")
end
return {jobId, 1, 0}
