-- addSchedulerJob: add the job of one run of a scheduler, id "repeat:<schedulerId>:<runAt>", made from the
-- scheduler hash (name, data, opts, priority, lifo) and naming it in field "rjk". Delayed until runAt, or
-- ready at once when runAt is not in the future. runAt is the decimal string of the run time (ms), used as
-- is in the id. A job with that id already existing means that run was added before: nothing is written.
-- Returns the job id and 1 when added, 0 when it existed. Needs: emit, pushReady.
local function addSchedulerJob(schedKey, waitKey, prioritizedKey, delayedKey, metaKey, pcKey, eventsKey,
                               markerKey, base, schedulerId, runAt, now, maxEvents)
  local jobId = "repeat:" .. schedulerId .. ":" .. runAt
  local jobKey = base .. jobId
  if redis.call("EXISTS", jobKey) == 1 then return jobId, 0 end
  local f = redis.call("HMGET", schedKey, "name", "data", "opts", "priority", "lifo")
  local due = tonumber(runAt)
  local delay = due - now
  if delay < 0 then delay = 0 end
  local priority = tonumber(f[4]) or 0
  redis.call("HSET", jobKey, "name", f[1], "data", f[2], "opts", f[3], "timestamp", now, "delay", delay,
    "priority", priority, "attemptsMade", 0, "rjk", schedulerId)
  if f[5] == "1" then redis.call("HSET", jobKey, "lifo", "1") end
  emit(eventsKey, maxEvents, "added", "jobId", jobId, "name", f[1])
  if delay > 0 then
    redis.call("ZADD", delayedKey, due, jobId)
    emit(eventsKey, maxEvents, "delayed", "jobId", jobId, "delay", due)
    -- Wake a blocked worker so it shortens its wait if this job falls due before the ones it knew of.
    redis.call("ZADD", markerKey, 0, "0")
  else
    pushReady(waitKey, prioritizedKey, pcKey, jobId, priority, f[5] == "1")
    emit(eventsKey, maxEvents, "waiting", "jobId", jobId)
    if redis.call("HEXISTS", metaKey, "paused") == 0 then
      redis.call("ZADD", markerKey, 0, "0")
    end
  end
  return jobId, 1
end
