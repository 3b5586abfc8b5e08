-- addOneJob: write one job (hash, events, and its place: delayed zset, prioritized zset or wait list).
-- keys = {wait, prioritized, delayed, meta, id, pc, events, marker}. An empty jobId means a generated one;
-- an existing custom id writes nothing. Returns jobId, created (1/0), wake (1 when a worker should be woken).
-- Needs: emit, pushReady.
local function addOneJob(keys, base, jobId, name, data, opts, timestamp, delay, priority, lifo, maxEvents)
  if jobId == "" then
    jobId = tostring(redis.call("INCR", keys[5]))
  elseif redis.call("EXISTS", base .. jobId) == 1 then
    emit(keys[7], maxEvents, "duplicated", "jobId", jobId)
    return jobId, 0, 0
  end
  local jobKey = base .. jobId
  redis.call("HSET", jobKey, "name", name, "data", data, "opts", opts, "timestamp", timestamp,
    "delay", delay, "priority", priority, "attemptsMade", 0)
  if lifo then redis.call("HSET", jobKey, "lifo", "1") end
  emit(keys[7], maxEvents, "added", "jobId", jobId, "name", name)
  if delay > 0 then
    redis.call("ZADD", keys[3], timestamp + delay, jobId)
    emit(keys[7], maxEvents, "delayed", "jobId", jobId, "delay", timestamp + delay)
    -- Wake a blocked worker so it shortens its wait if this job falls due before the ones it knew of.
    return jobId, 1, 1
  end
  pushReady(keys[1], keys[2], keys[6], jobId, priority, lifo)
  emit(keys[7], maxEvents, "waiting", "jobId", jobId)
  return jobId, 1, 1
end
