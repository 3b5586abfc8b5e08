-- fetchJobs: take up to `count` ready jobs (wait list first, then by priority), lock each with a fresh
-- token (workerId:attemptsStarted) for lockMs, mark them active, and return {id, token, HGETALL} per job.
-- Honours a fixed-window rate limit (limMax jobs per limDurationMs, 0 = none): returns the ms to wait
-- when the window is used up. Re-arms the marker when ready jobs remain, so another idle worker wakes.
-- Needs: emit.
local function fetchJobs(waitKey, activeKey, prioritizedKey, markerKey, limiterKey, eventsKey, base, workerId,
                         lockMs, now, count, maxEvents, limMax, limDurationMs)
  local jobs = {}
  if count <= 0 then return jobs, 0 end
  if limMax > 0 then
    local allowed = limMax - (tonumber(redis.call("GET", limiterKey)) or 0)
    if allowed <= 0 then
      local ttl = redis.call("PTTL", limiterKey)
      if ttl > 0 then return jobs, ttl end
      redis.call("DEL", limiterKey)
      allowed = limMax
    end
    if count > allowed then count = allowed end
  end
  local n = 0
  while n < count do
    local jobId = redis.call("RPOP", waitKey)
    local prev = "waiting"
    if not jobId then
      local popped = redis.call("ZPOPMIN", prioritizedKey)
      if #popped == 0 then break end
      jobId = popped[1]
      prev = "prioritized"
    end
    local jobKey = base .. jobId
    -- An id whose hash is gone (removed by hand), or is not a hash, is dropped: there is no job to run.
    if redis.call("TYPE", jobKey)["ok"] == "hash" then
      n = n + 1
      local ats = redis.pcall("HINCRBY", jobKey, "ats", 1)
      if type(ats) == "table" then -- a hand-edited, non-integer start count: restart it (nothing half-done)
        ats = 1
        redis.call("HSET", jobKey, "ats", ats)
      end
      local token = workerId .. ":" .. ats
      redis.call("SET", jobKey .. ":lock", token, "PX", lockMs)
      redis.call("ZADD", activeKey, now, jobId)
      redis.call("HSET", jobKey, "processedOn", now, "worker", workerId)
      emit(eventsKey, maxEvents, "active", "jobId", jobId, "prev", prev)
      jobs[n] = {jobId, token, redis.call("HGETALL", jobKey)}
    end
  end
  if limMax > 0 and n > 0 then
    if redis.call("INCRBY", limiterKey, n) == n then
      redis.call("PEXPIRE", limiterKey, limDurationMs)
    end
  end
  if redis.call("LLEN", waitKey) > 0 or redis.call("ZCARD", prioritizedKey) > 0 then
    redis.call("ZADD", markerKey, 0, "0")
  end
  return jobs, 0
end
