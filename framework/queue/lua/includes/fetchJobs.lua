-- fetchJobs: take up to `count` ready jobs (wait list first, then by priority; and, when fair groups hold
-- jobs, alternately one of those, round-robin between groups), lock each with a fresh token
-- (workerId:attemptsStarted) for lockMs, mark them active, and return {id, token, HGETALL} per job.
-- Honours the queue-wide limits (queueLimits) and a fixed-window rate limit (limMax jobs per
-- limDurationMs, 0 = none): returns the ms to wait when the window is used up. Group limits: gc jobs of a
-- group active at once, gmax per gdur ms started per group (0 = none). Re-arms the marker when ready jobs
-- remain that a worker may take, so another idle worker wakes.
-- Needs: emit, queueLimits, groups.
local function fetchJobs(waitKey, activeKey, prioritizedKey, markerKey, limiterKey, eventsKey, base, workerId,
                         lockMs, now, count, maxEvents, limMax, limDurationMs, metaKey, gc, gmax, gdur)
  local jobs = {}
  if count <= 0 then return jobs, 0 end
  local limitedMs, maxed
  count, limMax, limDurationMs, limitedMs, maxed = queueLimits(metaKey, activeKey, limiterKey, count, limMax,
    limDurationMs)
  if limitedMs > 0 then return jobs, limitedMs end
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
  -- Groups cost the plain path one LLEN per call. `groupBudget`: groups this call may pass over (maxed,
  -- rate-limited) before it stops looking; a successful take costs none.
  local groupBudget = redis.call("LLEN", base .. "groups")
  local useGroups = groupBudget > 0
  local groupWaitMs = 0
  -- Whose turn it is, plain jobs or groups, carries over from call to call (a worker with concurrency 1
  -- takes one job per call).
  local groupTurn = true
  if useGroups then groupTurn = redis.call("GET", base .. "gturn") ~= "p" end
  local hadGroups = useGroups
  local plainEmpty = false
  local n = 0
  local nowText = string.format("%d", now)
  while n < count do
    local jobId
    local prev = "waiting"
    local fromGroup = false
    if useGroups and (groupTurn or plainEmpty) then
      local passed
      jobId, passed, groupWaitMs = takeFromGroups(base, activeKey, now, gc, gmax, gdur, groupBudget)
      groupBudget = groupBudget - passed
      if jobId then fromGroup = true else useGroups = false end
    end
    groupTurn = not groupTurn
    if not jobId and not plainEmpty then
      jobId = redis.call("RPOP", waitKey)
      if not jobId then
        local popped = redis.call("ZPOPMIN", prioritizedKey)
        if #popped > 0 then
          jobId = popped[1]
          prev = "prioritized"
        else
          plainEmpty = true
        end
      end
    end
    if not jobId then
      if plainEmpty and not useGroups then break end
    else
      local jobKey = base .. jobId
      -- The whole hash is read once: it is the reply, and it holds the group and start count.
      -- An id whose hash is gone (removed by hand), or is not a hash, is dropped: there is no job to run.
      local h = redis.pcall("HGETALL", jobKey)
      local isJob = not h.err and #h > 0
      local gid, atsAt, processedAt, workerAt
      if isJob then
        for i = 1, #h, 2 do
          local field = h[i]
          if field == "ats" then atsAt = i + 1
          elseif field == "gid" then gid = h[i + 1]
          elseif field == "processedOn" then processedAt = i + 1
          elseif field == "worker" then workerAt = i + 1 end
        end
      end
      if isJob and gid and not fromGroup then
        -- A grouped job back in the wait list (retried, fell due, stalled): it waits for its group's turn.
        if pushGroup(base, gid, jobId, false) == 2 then
          useGroups = true
          hadGroups = true
          groupBudget = groupBudget + 1
        end
      elseif isJob then
        n = n + 1
        -- A hand-edited, non-integer start count is restarted (nothing half-done).
        local ats = 1
        if atsAt then
          local made = h[atsAt]
          if #made <= 15 and string.match(made, "^%d+$") then ats = tonumber(made) + 1 end
        end
        ats = string.format("%d", ats)
        local token = workerId .. ":" .. ats
        redis.call("SET", jobKey .. ":lock", token, "PX", lockMs)
        redis.call("ZADD", activeKey, now, jobId)
        redis.call("HSET", jobKey, "ats", ats, "processedOn", now, "worker", workerId)
        emit(eventsKey, maxEvents, "active", "jobId", jobId, "prev", prev)
        -- The reply as the hash is now.
        if atsAt then h[atsAt] = ats else h[#h + 1] = "ats"; h[#h + 1] = ats end
        if processedAt then h[processedAt] = nowText else h[#h + 1] = "processedOn"; h[#h + 1] = nowText end
        if workerAt then h[workerAt] = workerId else h[#h + 1] = "worker"; h[#h + 1] = workerId end
        jobs[n] = {jobId, token, h}
      end
    end
  end
  if hadGroups then
    redis.call("SET", base .. "gturn", groupTurn and "g" or "p")
  end
  if limMax > 0 and n > 0 then
    if redis.call("INCRBY", limiterKey, n) == n then
      redis.call("PEXPIRE", limiterKey, limDurationMs)
    end
  end
  if maxed and n >= count then return jobs, 0 end
  if redis.call("LLEN", waitKey) > 0 or redis.call("ZCARD", prioritizedKey) > 0 or useGroups then
    redis.call("ZADD", markerKey, 0, "0")
  end
  if n == 0 and groupWaitMs > 0 then return jobs, groupWaitMs end
  return jobs, 0
end
