--[[
  removeJobScheduler: delete a job scheduler and its pending job (an active one finishes; no run follows).

  KEYS[1] schedulers, KEYS[2] scheduler hash, KEYS[3] wait, KEYS[4] prioritized, KEYS[5] delayed,
  KEYS[6] events
  ARGV[1] key base, ARGV[2] scheduler id, ARGV[3] max events

  Returns 1 when the scheduler existed, else 0.
]]
--- @include "emit"
--- @include "removeJobKeys"
--- @include "removeSchedulerJob"
local base, sid = ARGV[1], ARGV[2]
redis.call("ZREM", KEYS[1], sid)
if redis.call("EXISTS", KEYS[2]) == 0 then return 0 end
local nextRun = redis.call("HGET", KEYS[2], "next")
if nextRun and nextRun ~= "" then
  removeSchedulerJob(KEYS[3], KEYS[4], KEYS[5], KEYS[6], base, "repeat:" .. sid .. ":" .. nextRun, ARGV[3])
end
redis.call("DEL", KEYS[2])
return 1
