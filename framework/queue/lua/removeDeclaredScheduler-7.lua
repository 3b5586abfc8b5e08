--[[
  removeDeclaredScheduler: delete a job scheduler that code declared (@cron / @every) and no longer
  declares, with its pending job (an active one finishes; no run follows). Only an id still in the
  declared set is removed, so a scheduler created at run time (upsert_job_scheduler) is never touched.

  KEYS[1] schedulers, KEYS[2] scheduler hash, KEYS[3] wait, KEYS[4] prioritized, KEYS[5] delayed,
  KEYS[6] events, KEYS[7] declared (set of the scheduler ids declared in code)
  ARGV[1] key base, ARGV[2] scheduler id, ARGV[3] max events

  Returns 1 when the scheduler existed and was removed, 0 when it was already gone (the id is forgotten
  either way), -1 when the id is not (or no longer) a declared one.
]]
--- @include "emit"
--- @include "removeJobKeys"
--- @include "removeSchedulerJob"
local base, sid = ARGV[1], ARGV[2]
if redis.call("SREM", KEYS[7], sid) == 0 then return -1 end
redis.call("ZREM", KEYS[1], sid)
if redis.call("EXISTS", KEYS[2]) == 0 then return 0 end
local nextRun = redis.call("HGET", KEYS[2], "next")
if nextRun and nextRun ~= "" then
  removeSchedulerJob(KEYS[3], KEYS[4], KEYS[5], KEYS[6], base, "repeat:" .. sid .. ":" .. nextRun, ARGV[3])
end
redis.call("DEL", KEYS[2])
return 1
