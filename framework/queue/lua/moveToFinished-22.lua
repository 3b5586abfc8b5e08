--[[
  moveToFinished: finish a batch of a worker's jobs (completed, failed for good, or failed and to be
  retried), then take up to `count` new jobs, like moveToActive: one round trip for "done, next please".
  A job is finished only if this worker still owns it: its lock holds our token, or the lock expired but
  the job is still active under our token (nobody took it over). Otherwise it is left alone. A repeated
  call (the reply of the first was lost with the connection) finds the job already finished under the same
  token and reports it done again. A job flagged for cancellation (see cancelJob) is not retried: it fails
  with the reason "cancelled".

  KEYS[1] wait, KEYS[2] active, KEYS[3] prioritized, KEYS[4] delayed, KEYS[5] meta, KEYS[6] events,
  KEYS[7] marker, KEYS[8] limiter, KEYS[9] pc, KEYS[10] completed, KEYS[11] failed,
  KEYS[12] metrics:completed, KEYS[13] metrics:completed:data, KEYS[14] metrics:failed,
  KEYS[15] metrics:failed:data, KEYS[16] metrics:totals (see includes/collectMetrics.lua),
  KEYS[17] completed:uncounted, KEYS[18] completed:counted, KEYS[19] completed:expiry, KEYS[20] failed:uncounted,
  KEYS[21] failed:counted, KEYS[22] failed:expiry (each job's own retention: see includes/trimFinished.lua)

  ARGV[1] key base, ARGV[2] worker id, ARGV[3] lock duration (ms), ARGV[4] now (ms), ARGV[5] count to fetch,
  ARGV[6] max events, ARGV[7] rate limit max, ARGV[8] rate limit window (ms),
  ARGV[9] number of finished jobs N, then N groups of 8:
    id, token, kind ("completed" | "failed" | "retry" | "waiting-children"), value (return value JSON or
    failed reason),
    stacktrace (JSON list, "" for completed), keep count (-1 = all), keep age (ms, 0 = any), retry delay (ms)
  ARGV[10 + 8N] metrics: minutes of per-minute counts to keep (0 = keep no metrics)
  ARGV[11 + 8N .. 13 + 8N] (optional) group concurrency, group rate limit max, its window (ms), as in
  moveToActive.

  A flow child that finishes for good updates its parent (flowParent: single server); a job that raised
  WaitingChildrenError ("waiting-children") waits for its pending children without using an attempt.

  Returns {results, jobs, nextDue, limitedForMs}; results[i] = 1 done, 0 not ours (lock lost), -1 job gone.
]]
--- @include "emit"
--- @include "pushReady"
--- @include "removeJobKeys"
--- @include "nextDue"
--- @include "trimFinished"
--- @include "promoteDelayed"
--- @include "releaseDeduplication"
--- @include "queueLimits"
--- @include "groups"
--- @include "fetchJobs"
--- @include "collectMetrics"
--- @include "flowParent"
local base = ARGV[1]
local workerId = ARGV[2]
local now = tonumber(ARGV[4])
local maxEvents = ARGV[6]
local results = {}
local n = tonumber(ARGV[9])
local metricsWindow = tonumber(ARGV[10 + n * 8]) or 0
local completedSet = finishedSet(KEYS[10], KEYS[17], KEYS[18], KEYS[19])
local failedSet = finishedSet(KEYS[11], KEYS[20], KEYS[21], KEYS[22])
-- Retention runs once per set and count rule at the end of the batch, not once per job.
local trims, trimOrder = {}, {}
local function trimLater(set, keepCount)
  -- Keyed by the set's table and the count (no string built per job).
  local bySet = trims[set]
  if not bySet then
    bySet = {}
    trims[set] = bySet
  end
  if not bySet[keepCount] then
    bySet[keepCount] = true
    trimOrder[#trimOrder + 1] = {set, keepCount}
  end
end
-- Finished sets are ordered by score (finishedOn). Jobs finishing in the same millisecond (a batch, or
-- two workers) get increasing fractions, so retention trims them oldest first instead of by id.
local lastScore = {}
local function finishScore(setKey)
  local last = lastScore[setKey]
  if last == nil then
    local top = redis.call("ZRANGE", setKey, -1, -1, "WITHSCORES")
    last = tonumber(top[2]) or 0
  end
  local score = now
  if score <= last and score > last - 1 then score = last + 0.001 end
  lastScore[setKey] = score
  return score
end
for i = 0, n - 1 do
  local o = 10 + i * 8
  local jobId, token, kind, value = ARGV[o], ARGV[o + 1], ARGV[o + 2], ARGV[o + 3]
  local jobKey = base .. jobId
  -- Everything a job's writes depend on is read and checked before its first write: a hand-edited job (a
  -- key of another type, a non-integer attemptsMade) must not stop this script halfway with a job
  -- unlocked but in no state. Such a job is failed cleanly below, or dropped when it is not a hash.
  local lockKey = jobKey .. ":lock"
  local lock = redis.pcall("GET", lockKey)
  if type(lock) == "table" then lock = false end -- not a string: no lock of ours
  -- Whether it is active matters only when the lock is not ours (the common case needs no lookup).
  local active = lock ~= token and redis.call("ZSCORE", KEYS[2], jobId)
  -- name (written by every add) missing: the hash is gone. name, timestamp, delay, processedOn, readyOn (5 to
  -- 9) are for metrics (collectMetrics): no extra call.
  local fields = redis.pcall("HMGET", jobKey, "cancel", "parentKey", "attemptsMade", "deid", "name", "timestamp",
    "delay", "processedOn", "readyOn")
  local notHash = fields.err ~= nil
  if notHash then fields = {} end
  local made = fields[3]
  local corrupt = made and not (#made <= 15 and string.match(made, "^%-?%d+$"))
  local ours = lock == token
  -- Only when the lock is not ours: the start count (ats) and finishing token (ftk) of the job.
  local owner = {}
  if not ours and not notHash then owner = redis.call("HMGET", jobKey, "ats", "ftk") end
  if not lock and active then
    ours = (workerId .. ":" .. (owner[1] or "")) == token
  end
  if notHash or (not fields[5] and redis.call("EXISTS", jobKey) == 0) then
    results[i + 1] = -1
    redis.call("ZREM", KEYS[2], jobId)
    if notHash then redis.call("DEL", lockKey) end
  elseif not ours then
    if not active and token ~= "" and owner[2] == token then
      results[i + 1] = 1
    else
      results[i + 1] = 0
    end
  else
    results[i + 1] = 1
    redis.call("DEL", lockKey)
    redis.call("ZREM", KEYS[2], jobId)
    if fields[1] then
      if fields[1] == "1" and kind == "retry" then
        kind, value = "failed", "cancelled"
      end
      redis.call("HDEL", jobKey, "cancel")
    end
    -- attemptsMade is written with the job's other fields below (one HSET).
    local attempts = tonumber(made) or 0
    if kind ~= "waiting-children" then
      if corrupt then
        kind = "failed"
        value = "corrupt job: its attemptsMade field is not an integer (" .. string.sub(made, 1, 40) ..
          "); the hash was changed outside nestq. Failed without retry"
        if ARGV[o + 4] == "" then ARGV[o + 4] = "[]" end -- a completed run carries no stack trace list
        attempts = 1
      else
        attempts = attempts + 1
      end
      if metricsWindow > 0 then metricsRecord(fields, kind, attempts, now) end
      if fields[4] and kind ~= "retry" then releaseDeduplication(base, jobId, fields[4]) end
    end
    attempts = string.format("%d", attempts)
    local keepCount, keepAge = tonumber(ARGV[o + 5]), tonumber(ARGV[o + 6])
    if kind == "completed" then
      emit(KEYS[6], maxEvents, "completed", "jobId", jobId, "returnvalue", value)
      flowJobFinished(jobKey, fields[2], kind, value, now, maxEvents)
      if keepCount == 0 then
        removeJobKeys(base, jobId)
      else
        redis.call("HSET", jobKey, "returnvalue", value, "finishedOn", now, "ftk", token,
          "attemptsMade", attempts)
        addFinished(completedSet, jobId, finishScore(KEYS[10]), keepCount, keepAge)
        trimLater(completedSet, keepCount)
      end
    elseif kind == "failed" then
      emit(KEYS[6], maxEvents, "failed", "jobId", jobId, "failedReason", value, "attemptsMade", attempts)
      flowJobFinished(jobKey, fields[2], kind, value, now, maxEvents)
      if keepCount == 0 then
        removeJobKeys(base, jobId)
      else
        redis.call("HSET", jobKey, "failedReason", value, "stacktrace", ARGV[o + 4], "finishedOn", now,
          "ftk", token, "attemptsMade", attempts)
        addFinished(failedSet, jobId, finishScore(KEYS[11]), keepCount, keepAge)
        trimLater(failedSet, keepCount)
      end
    elseif kind == "waiting-children" then
      redis.call("HSET", jobKey, "ftk", token)
      flowWaitForChildren(base, jobId, now, maxEvents)
    else -- retry
      local delay = tonumber(ARGV[o + 7])
      redis.call("HSET", jobKey, "failedReason", value, "stacktrace", ARGV[o + 4], "ftk", token,
        "attemptsMade", attempts)
      emit(KEYS[6], maxEvents, "retried", "jobId", jobId, "failedReason", value, "attemptsMade", attempts,
        "delay", delay)
      -- The backoff applied is recorded as the job's delay (and due time), as for a job added delayed.
      if delay > 0 then
        redis.call("HSET", jobKey, "delay", delay, "dueOn", now + delay)
        redis.call("ZADD", KEYS[4], now + delay, jobId)
        emit(KEYS[6], maxEvents, "delayed", "jobId", jobId, "delay", now + delay)
      else
        redis.call("HSET", jobKey, "delay", 0)
        redis.call("HDEL", jobKey, "dueOn")
        local prio = redis.call("HMGET", jobKey, "priority", "lifo")
        pushReady(KEYS[1], KEYS[3], KEYS[9], jobId, tonumber(prio[1]) or 0, prio[2] == "1")
        emit(KEYS[6], maxEvents, "waiting", "jobId", jobId, "prev", "failed")
      end
      redis.call("ZADD", KEYS[7], 0, "0")
    end
  end
end
if metricsWindow > 0 then
  metricsFlush(KEYS[12], KEYS[13], KEYS[14], KEYS[15], KEYS[16], metricsWindow, now)
end
for _, t in ipairs(trimOrder) do
  trimFinished(t[1], base, t[2], now)
end
local fetchCount = tonumber(ARGV[5])
local jobs, limited = {}, 0
if fetchCount > 0 then
  promoteDelayed(KEYS[4], KEYS[1], KEYS[3], KEYS[9], KEYS[6], KEYS[7], base, now, maxEvents)
  if redis.call("HEXISTS", KEYS[5], "paused") == 0 then
    jobs, limited = fetchJobs(KEYS[1], KEYS[2], KEYS[3], KEYS[7], KEYS[8], KEYS[6], base, workerId,
      tonumber(ARGV[3]), now, fetchCount, maxEvents, tonumber(ARGV[7]), tonumber(ARGV[8]), KEYS[5],
      tonumber(ARGV[11 + n * 8]) or 0, tonumber(ARGV[12 + n * 8]) or 0, tonumber(ARGV[13 + n * 8]) or 0)
  end
end
if redis.call("ZCARD", KEYS[2]) == 0 and redis.call("LLEN", KEYS[1]) == 0
    and redis.call("ZCARD", KEYS[3]) == 0 and redis.call("LLEN", base .. "groups") == 0 then
  emit(KEYS[6], maxEvents, "drained")
end
return {results, jobs, nextDue(KEYS[4]), limited}
