-- collectMetrics: the queue's numbers, kept by the script that finishes jobs (framework/observability).
-- metricsRecord(jobKey, kind, attempts, now) notes one finished attempt; metricsFlush(...) writes the batch:
--  * per-minute counts of completed and failed jobs, BullMQ style: a hash {count, prevTS, prevCount} and a
--    list of past minutes, newest first, trimmed to maxDataPoints;
--  * one hash of totals for Prometheus: "c|<state>|<name>" jobs by state (completed, failed, retried),
--    "d|<name>|<i>" / "w|<name>|<i>" run / wait time observations in histogram bucket i (not cumulative),
--    "ds|<name>" / "ws|<name>" their sums (ms), "dn|<name>" / "wn|<name>" their counts.
-- A batch costs a few commands per distinct job name, not per job.
local metricBounds = {5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 900000,
  3600000}
local metricFinished = {completed = 0, failed = 0}
local metricIncr = {}
local metricOrder = {}
local function metricAdd(field, by)
  local cur = metricIncr[field]
  if cur == nil then
    metricOrder[#metricOrder + 1] = field
    metricIncr[field] = by
  else
    metricIncr[field] = cur + by
  end
end
local function metricBucket(ms)
  for i = 1, #metricBounds do
    if ms <= metricBounds[i] then return i end
  end
  return #metricBounds + 1
end
local function metricsRecord(jobKey, kind, attempts, now)
  local f = redis.call("HMGET", jobKey, "name", "timestamp", "delay", "processedOn")
  local name = f[1] or "?"
  local state = kind
  if kind == "retry" then state = "retried" else metricFinished[kind] = metricFinished[kind] + 1 end
  metricAdd("c|" .. state .. "|" .. name, 1)
  local started = tonumber(f[4])
  if started then
    local run = now - started
    if run < 0 then run = 0 end
    metricAdd("d|" .. name .. "|" .. metricBucket(run), 1)
    metricAdd("ds|" .. name, run)
    metricAdd("dn|" .. name, 1)
    -- Wait (ready -> first start) is observed once per job, at the end of its first attempt.
    if attempts == 1 and tonumber(f[2]) then
      local wait = started - tonumber(f[2]) - (tonumber(f[3]) or 0)
      if wait < 0 then wait = 0 end
      metricAdd("w|" .. name .. "|" .. metricBucket(wait), 1)
      metricAdd("ws|" .. name, wait)
      metricAdd("wn|" .. name, 1)
    end
  end
end
local function metricsMinutes(metaKey, dataKey, maxDataPoints, now, k)
  if k == 0 then return end
  local count = redis.call("HINCRBY", metaKey, "count", k) - k
  local prevTS = redis.call("HGET", metaKey, "prevTS")
  if not prevTS then
    redis.call("HSET", metaKey, "prevTS", now, "prevCount", 0, "maxDataPoints", maxDataPoints)
    return
  end
  local n = math.floor(now / 60000) - math.floor(tonumber(prevTS) / 60000)
  if n > 0 then
    -- LPUSH of {delta, 0, ...} leaves the zeros (the empty minutes since) above prevTS's minute. A minute
    -- further back than the window is not pushed at all (BullMQ would push it as the oldest point kept).
    local points = {}
    if n <= maxDataPoints then
      points[1] = count - tonumber(redis.call("HGET", metaKey, "prevCount") or 0)
    else
      n = maxDataPoints
      points[1] = 0
    end
    for i = 2, n do points[i] = 0 end
    redis.call("LPUSH", dataKey, unpack(points))
    redis.call("LTRIM", dataKey, 0, maxDataPoints - 1)
    redis.call("HSET", metaKey, "prevCount", count, "prevTS", now, "maxDataPoints", maxDataPoints)
  end
end
local function metricsFlush(completedMeta, completedData, failedMeta, failedData, totalsKey, maxDataPoints, now)
  metricsMinutes(completedMeta, completedData, maxDataPoints, now, metricFinished.completed)
  metricsMinutes(failedMeta, failedData, maxDataPoints, now, metricFinished.failed)
  for _, field in ipairs(metricOrder) do
    redis.call("HINCRBY", totalsKey, field, metricIncr[field])
  end
end
