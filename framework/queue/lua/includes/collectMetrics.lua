-- collectMetrics: the queue's numbers, kept by the script that finishes jobs (framework/observability).
-- metricsRecord(fields, kind, attempts, now) notes one finished attempt (fields[5..9]: the job's name,
-- timestamp, delay, processedOn and readyOn, as moveToFinished's HMGET read them); metricsFlush(...)
-- writes the batch:
--  * per-minute counts of completed and failed jobs, BullMQ style: a hash {count, prevTS, prevCount} and a
--    list of past minutes, newest first, trimmed to maxDataPoints;
--  * one hash of totals for Prometheus: "c|<state>|<name>" jobs by state (completed, failed, retried),
--    "d|<name>|<i>" / "w|<name>|<i>" run / wait time observations in histogram bucket i (not cumulative),
--    "ds|<name>" / "ws|<name>" their sums (ms), "dn|<name>" / "wn|<name>" their counts.
-- A batch costs a few commands per distinct job name, not per job.
local metricBounds = {5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 900000,
  3600000}
local metricFinished = {completed = 0, failed = 0}
-- Per job name: counts by state and by bucket, sums; the hash fields are spelled out once per batch.
local metricNames, metricOrder = {}, {}
local function metricBucket(ms)
  for i = 1, 16 do
    if ms <= metricBounds[i] then return i end
  end
  return 17
end
local function metricsRecord(fields, kind, attempts, now)
  local name = fields[5] or "?"
  local st = metricNames[name]
  if st == nil then
    st = {c = {}, d = {}, w = {}, ds = 0, dn = 0, ws = 0, wn = 0}
    metricNames[name] = st
    metricOrder[#metricOrder + 1] = name
  end
  local state = kind
  if kind == "retry" then state = "retried" else metricFinished[kind] = metricFinished[kind] + 1 end
  st.c[state] = (st.c[state] or 0) + 1
  local started = tonumber(fields[8])
  if started then
    local run = now - started
    if run < 0 then run = 0 end
    local b = metricBucket(run)
    st.d[b] = (st.d[b] or 0) + 1
    st.ds = st.ds + run
    st.dn = st.dn + 1
    -- Wait (ready -> first start) is observed once per job, at the end of its first attempt.
    -- Ready since: promoted from delayed (readyOn), else added (+ its delay, for a job taken while delayed).
    local ready = tonumber(fields[9])
    if not ready and tonumber(fields[6]) then ready = tonumber(fields[6]) + (tonumber(fields[7]) or 0) end
    if attempts == 1 and ready then
      local wait = started - ready
      if wait < 0 then wait = 0 end
      b = metricBucket(wait)
      st.w[b] = (st.w[b] or 0) + 1
      st.ws = st.ws + wait
      st.wn = st.wn + 1
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
local function metricsFlush(completedMeta, completedData, failedMeta, failedData, totalsKey, maxDataPoints,
                            now)
  metricsMinutes(completedMeta, completedData, maxDataPoints, now, metricFinished.completed)
  metricsMinutes(failedMeta, failedData, maxDataPoints, now, metricFinished.failed)
  for _, name in ipairs(metricOrder) do
    local st = metricNames[name]
    for state, n in pairs(st.c) do redis.call("HINCRBY", totalsKey, "c|" .. state .. "|" .. name, n) end
    for b, n in pairs(st.d) do redis.call("HINCRBY", totalsKey, "d|" .. name .. "|" .. b, n) end
    for b, n in pairs(st.w) do redis.call("HINCRBY", totalsKey, "w|" .. name .. "|" .. b, n) end
    if st.dn > 0 then
      redis.call("HINCRBY", totalsKey, "ds|" .. name, st.ds)
      redis.call("HINCRBY", totalsKey, "dn|" .. name, st.dn)
    end
    if st.wn > 0 then
      redis.call("HINCRBY", totalsKey, "ws|" .. name, st.ws)
      redis.call("HINCRBY", totalsKey, "wn|" .. name, st.wn)
    end
  end
end
