--[[
  upsertJobScheduler: create or update a job scheduler, and add the job of its first run.
  The same definition again (same version) changes nothing: no new job, no shifted run, so every instance
  of an application may upsert its schedulers at start. A changed definition replaces the schedule: the
  old pending job is removed (an active one finishes), the run count starts over. A scheduler with the
  same definition whose pending job is gone (deleted, or finished without a successor because its worker
  lost Redis) is restarted at the given first run.

  KEYS[1] schedulers    zset of scheduler ids by next run (ms; +inf once the schedule has ended)
  KEYS[2] scheduler     hash of this scheduler
  KEYS[3] wait
  KEYS[4] prioritized
  KEYS[5] delayed
  KEYS[6] meta
  KEYS[7] pc
  KEYS[8] events
  KEYS[9] marker
  KEYS[10] completed
  KEYS[11] failed

  ARGV[1] key base, "{prefix:queue}:"
  ARGV[2] scheduler id
  ARGV[3] version (digest of the definition and the job template)
  ARGV[4] now (ms)
  ARGV[5] first run (ms, decimal string), or "" when no run falls before the end date
  ARGV[6] max events
  ARGV[7..] field, value pairs of the scheduler hash (definition, job template, anchor, createdAt)

  Returns {jobId, status}: the scheduler's pending job (its last job once the schedule ended; "" if it
  never had one); status 0 unchanged, 1 created, 2 replaced, 3 restarted.
]]
--- @include "emit"
--- @include "pushReady"
--- @include "removeJobKeys"
--- @include "addSchedulerJob"
--- @include "removeSchedulerJob"
local base, sid, version, now, firstRun, maxEvents = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4]), ARGV[5],
  ARGV[6]
local schedKey = KEYS[2]

-- Schedule the first run as run number count + 1, or end the schedule.
local function start(count)
  local limit = tonumber(redis.call("HGET", schedKey, "limit"))
  if firstRun == "" or (limit and count >= limit) then
    redis.call("HSET", schedKey, "done", "1")
    redis.call("ZADD", KEYS[1], "+inf", sid)
    local last = redis.call("HGET", schedKey, "next")
    if last and last ~= "" then return "repeat:" .. sid .. ":" .. last end
    return ""
  end
  local jobId = addSchedulerJob(schedKey, KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7], KEYS[8], KEYS[9], base,
    sid, firstRun, now, maxEvents)
  redis.call("HSET", schedKey, "next", firstRun, "ic", count + 1, "done", "0")
  redis.call("ZADD", KEYS[1], firstRun, sid)
  return jobId
end

local cur = redis.call("HMGET", schedKey, "version", "next", "done", "ic")
local status = 1
if cur[1] then
  local pending = ""
  if cur[2] and cur[2] ~= "" then pending = "repeat:" .. sid .. ":" .. cur[2] end
  if cur[1] == version then
    if cur[3] == "1" then return {pending, 0} end
    if pending ~= "" and redis.call("EXISTS", base .. pending) == 1
        and not redis.call("ZSCORE", KEYS[10], pending) and not redis.call("ZSCORE", KEYS[11], pending) then
      return {pending, 0}
    end
    return {start(tonumber(cur[4]) or 0), 3}
  end
  if pending ~= "" then
    removeSchedulerJob(KEYS[3], KEYS[4], KEYS[5], KEYS[8], base, pending, maxEvents)
  end
  redis.call("DEL", schedKey)
  status = 2
end
redis.call("HSET", schedKey, "version", version, "ic", 0, unpack(ARGV, 7))
return {start(0), status}
