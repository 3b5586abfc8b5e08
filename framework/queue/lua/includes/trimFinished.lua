-- Retention is each job's own (README "Job options"): a job's remove_on_complete / remove_on_fail, as it
-- finished, decides when that job goes; another job's rule never removes it nor counts it. Beside a finished
-- set S (completed or failed, score = finishedOn):
--   S:uncounted  zset: the jobs of S finished with no count limit (False = keep all, or an age only). No
--                count rule removes or counts them. Exists only while such jobs are in S.
--   S:counted    zset, kept only while S:uncounted exists: the jobs of S with a count limit. While it is
--                kept, count rules trim it instead of S (so the common case, every job with a count, costs
--                no second zset).
--   S:expiry     zset: the jobs of S finished with an age limit, scored by when they reach it. Only these
--                are ever removed by age, each at its own time.
-- Jobs that left S another way (removed, retried) leave stale entries behind: each is checked against S
-- before anything is removed, and dropped. A count rule keeps the newest N of the jobs that have a count
-- (with different counts in use, the count of the job finishing last applies to all of them).
-- Removes at most 1000 jobs per call so a lowered limit never blocks the server for long.
-- Needs: removeJobKeys.

-- finishedSet(setKey, uncountedKey, countedKey, expiryKey): the state of one finished set within a call.
local function finishedSet(setKey, uncountedKey, countedKey, expiryKey)
  return {key = setKey, uncounted = uncountedKey, counted = countedKey, expiry = expiryKey}
end

-- The same, with the index keys named after the set (scripts that finish one job; same hash tag).
local function finishedSetOf(setKey)
  return finishedSet(setKey, setKey .. ":uncounted", setKey .. ":counted", setKey .. ":expiry")
end

local function finishedSplit(s)
  if s.split == nil then s.split = redis.call("EXISTS", s.uncounted) == 1 end
  return s.split
end

local function finishedAged(s)
  if s.aged == nil then s.aged = redis.call("EXISTS", s.expiry) == 1 end
  return s.aged
end

-- addFinished: put job `jobId` into the set at `score` under its own rule (keepCount -1 = no count limit,
-- keepAgeMs 0 = no age limit).
local function addFinished(s, jobId, score, keepCount, keepAgeMs)
  redis.call("ZADD", s.key, score, jobId)
  if keepCount < 0 then
    local split = finishedSplit(s)
    redis.call("ZADD", s.uncounted, score, jobId)
    if split then
      redis.call("ZREM", s.counted, jobId)
    else
      -- The first job without a count: from now on the jobs with one are listed apart.
      redis.call("ZDIFFSTORE", s.counted, 2, s.key, s.uncounted)
      s.split = true
    end
  elseif finishedSplit(s) then
    redis.call("ZADD", s.counted, score, jobId)
    redis.call("ZREM", s.uncounted, jobId)
  end
  if keepAgeMs > 0 then
    redis.call("ZADD", s.expiry, score + keepAgeMs, jobId)
    s.aged = true
  elseif finishedAged(s) then
    redis.call("ZREM", s.expiry, jobId) -- an entry of an earlier finish under another rule
  end
end

-- Remove the jobs `ids` that are still in the set (with their keys); returns how many were.
local function removeFinished(s, base, ids)
  if #ids == 0 then return 0 end
  local scores = redis.call("ZMSCORE", s.key, unpack(ids))
  local gone = {}
  for i, jobId in ipairs(ids) do
    if scores[i] then
      removeJobKeys(base, jobId)
      gone[#gone + 1] = jobId
    end
  end
  if #gone > 0 then
    redis.call("ZREM", s.key, unpack(gone))
    if finishedSplit(s) then
      redis.call("ZREM", s.counted, unpack(gone))
      redis.call("ZREM", s.uncounted, unpack(gone))
    end
  end
  return #gone
end

-- trimFinished: apply a count rule (keep the newest keepCount jobs that have a count; -1 = none), then
-- remove the jobs whose own age limit has passed.
local function trimFinished(s, base, keepCount, now)
  if keepCount >= 0 then
    if not finishedSplit(s) then
      local over = redis.call("ZCARD", s.key) - keepCount
      if over > 0 then
        if over > 1000 then over = 1000 end
        local old = redis.call("ZRANGE", s.key, 0, over - 1)
        for _, jobId in ipairs(old) do removeJobKeys(base, jobId) end
        redis.call("ZREMRANGEBYRANK", s.key, 0, over - 1)
      end
    else
      local over = redis.call("ZCARD", s.counted) - keepCount
      if over > 0 then
        if over > 1000 then over = 1000 end
        local old = redis.call("ZRANGE", s.counted, 0, over - 1)
        redis.call("ZREMRANGEBYRANK", s.counted, 0, over - 1)
        removeFinished(s, base, old)
      end
      -- Forget uncounted jobs that left the set, a few per call; none left ends the split.
      local oldest = redis.call("ZRANGE", s.uncounted, 0, 9)
      local scores = redis.call("ZMSCORE", s.key, unpack(oldest))
      for i, jobId in ipairs(oldest) do
        if not scores[i] then redis.call("ZREM", s.uncounted, jobId) end
      end
      if redis.call("EXISTS", s.uncounted) == 0 then
        redis.call("DEL", s.counted)
        s.split = false
      end
    end
  end
  if finishedAged(s) then
    local due = redis.call("ZRANGEBYSCORE", s.expiry, "-inf", now, "LIMIT", 0, 1000)
    if #due > 0 then
      removeFinished(s, base, due)
      redis.call("ZREM", s.expiry, unpack(due))
      s.aged = nil
    end
  end
end
