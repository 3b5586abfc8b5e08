--[[
  scheduleNext: when a worker takes the job of a scheduler's run, add the job of its next run. Does so only
  if the scheduler still exists with the definition the next run was computed from (version), the taken
  run is still its latest (a retried or stalled job taken again adds nothing), and the limit allows one
  more run. Deterministic job ids make a repeated or racing call harmless: at most one job per run.

  KEYS[1] schedulers, KEYS[2] scheduler hash, KEYS[3] wait, KEYS[4] prioritized, KEYS[5] delayed,
  KEYS[6] meta, KEYS[7] pc, KEYS[8] events, KEYS[9] marker

  ARGV[1] key base, ARGV[2] scheduler id, ARGV[3] version the next run was computed from,
  ARGV[4] the taken run (ms, as in its job id), ARGV[5] next run (ms, decimal string), or "" when the end
  date comes first, ARGV[6] now (ms), ARGV[7] max events

  Returns {jobId, status}: status 1 next run added, 2 the schedule ended (limit or end date),
  0 nothing to do (that run already has a successor), -1 the scheduler is gone or was changed.
]]
--- @include "emit"
--- @include "pushReady"
--- @include "addSchedulerJob"
local base, sid, runAt, nextRun = ARGV[1], ARGV[2], ARGV[4], ARGV[5]
local schedKey = KEYS[2]
local f = redis.call("HMGET", schedKey, "version", "next", "done", "ic", "limit")
if not f[1] or f[1] ~= ARGV[3] then return {"", -1} end
if f[3] == "1" or f[2] ~= runAt then return {"", 0} end
local count = tonumber(f[4]) or 0
local limit = tonumber(f[5])
if nextRun == "" or (limit and count >= limit) then
  redis.call("HSET", schedKey, "done", "1")
  redis.call("ZADD", KEYS[1], "+inf", sid)
  return {"", 2}
end
local jobId = addSchedulerJob(schedKey, KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7], KEYS[8], KEYS[9], base,
  sid, nextRun, tonumber(ARGV[6]), ARGV[7])
redis.call("HSET", schedKey, "next", nextRun, "ic", count + 1)
redis.call("ZADD", KEYS[1], nextRun, sid)
return {jobId, 1}
