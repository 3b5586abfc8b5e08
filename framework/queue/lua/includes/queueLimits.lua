-- queueLimits: the queue-wide limits stored in the meta hash (Queue.set_global_concurrency /
-- set_global_rate_limit) and a manual rate limit (Queue.rate_limit), applied before a fetch.
-- Returns count (how many jobs may be taken now), limMax, limDurationMs (the global rate limit when set,
-- else the worker's), limitedMs (> 0: take nothing for that long) and maxed (true when global concurrency
-- is what stopped the fetch: no marker is re-armed then, so idle workers do not spin).
local function queueLimits(metaKey, activeKey, limiterKey, count, limMax, limDurationMs)
  local m = redis.call("HMGET", metaKey, "concurrency", "max", "duration")
  local maxed = false
  local gc = tonumber(m[1])
  if gc then
    local free = gc - redis.call("ZCARD", activeKey)
    if free <= count then
      count = free
      maxed = true
    end
  end
  if tonumber(m[2]) then
    limMax, limDurationMs = tonumber(m[2]), tonumber(m[3])
  end
  if limMax <= 0 then
    -- No limiter: the key exists only while a manual rate limit holds.
    local ttl = redis.call("PTTL", limiterKey)
    if ttl > 0 then return 0, limMax, limDurationMs, ttl, false end
  end
  return count, limMax, limDurationMs, 0, maxed
end
