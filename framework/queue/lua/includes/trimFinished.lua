-- trimFinished: apply retention to the completed or failed zset (score = finishedOn): keep at most
-- keepCount jobs (-1 = no count limit) and none older than keepAgeMs (0 = no age limit). Removes at most
-- 1000 jobs per call so a lowered limit never blocks the server for long. Needs: removeJobKeys.
--
-- Retention is a job's own: jobs finished with "keep all" (remove_on_complete/remove_on_fail=False) are
-- listed in `<set>:kept` (see keepFinished) and are never removed by another job's rule, nor counted
-- against it. (Like a job's lock, the index is named after a key the caller passed, in the same slot.)
local function trimFinished(setKey, base, keepCount, keepAgeMs, now)
  local keptKey = setKey .. ":kept"
  local kept = redis.call("ZCARD", keptKey)
  if kept > 0 then
    -- Forget kept jobs removed or retried since (checked a few at a time, oldest first).
    local oldest = redis.call("ZRANGE", keptKey, 0, 9)
    local scores = redis.call("ZMSCORE", setKey, unpack(oldest))
    for i, jobId in ipairs(oldest) do
      if not scores[i] then
        redis.call("ZREM", keptKey, jobId)
        kept = kept - 1
      end
    end
  end
  -- Up to `limit` removable ids among the `scan` oldest entries (from `fetch(offset, n)`), skipping kept jobs.
  local function removable(fetch, limit, scan)
    local out, offset = {}, 0
    local size = kept > 0 and 200 or limit
    while #out < limit and offset < scan do
      local page = fetch(offset, size)
      if #page == 0 then break end
      offset = offset + #page
      local keptScores = kept > 0 and redis.call("ZMSCORE", keptKey, unpack(page)) or {}
      for i, jobId in ipairs(page) do
        if not keptScores[i] and #out < limit then out[#out + 1] = jobId end
      end
    end
    return out
  end
  if keepCount >= 0 then
    local over = redis.call("ZCARD", setKey) - kept - keepCount
    if over > 0 then
      if over > 1000 then over = 1000 end
      local old
      if kept == 0 then
        old = redis.call("ZRANGE", setKey, 0, over - 1)
      else
        old = removable(function(offset, n) return redis.call("ZRANGE", setKey, offset, offset + n - 1) end,
          over, over + kept)
      end
      for _, jobId in ipairs(old) do removeJobKeys(base, jobId) end
      if kept == 0 then
        redis.call("ZREMRANGEBYRANK", setKey, 0, over - 1)
      elseif #old > 0 then
        redis.call("ZREM", setKey, unpack(old))
      end
    end
  end
  if keepAgeMs > 0 then
    local old = removable(function(offset, n)
      return redis.call("ZRANGEBYSCORE", setKey, "-inf", now - keepAgeMs, "LIMIT", offset, n)
    end, 1000, 1000 + kept)
    for _, jobId in ipairs(old) do
      removeJobKeys(base, jobId)
      redis.call("ZREM", setKey, jobId)
    end
  end
end

-- keepFinished: record whether a job just added to a finished set keeps itself forever (keepCount -1 and
-- no age limit): then trimFinished never removes it.
local function keepFinished(setKey, jobId, score, keepCount, keepAgeMs)
  if keepCount < 0 and keepAgeMs <= 0 then
    redis.call("ZADD", setKey .. ":kept", score, jobId)
  elseif redis.call("ZCARD", setKey .. ":kept") > 0 then
    redis.call("ZREM", setKey .. ":kept", jobId)
  end
end
