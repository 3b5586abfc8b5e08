-- removeSchedulerJob: delete a scheduler's pending job if it is still waiting to run (delayed, waiting or
-- prioritized). An active job is left to finish: its worker's scheduleNext then finds the scheduler gone or
-- changed and adds nothing. Returns 1 when removed, else 0. Needs: emit, removeJobKeys.
local function removeSchedulerJob(waitKey, prioritizedKey, delayedKey, eventsKey, base, jobId, maxEvents)
  local n = redis.call("ZREM", delayedKey, jobId) + redis.call("ZREM", prioritizedKey, jobId)
    + redis.call("LREM", waitKey, 0, jobId)
  if n == 0 then return 0 end
  removeJobKeys(base, jobId)
  emit(eventsKey, maxEvents, "removed", "jobId", jobId)
  return 1
end
