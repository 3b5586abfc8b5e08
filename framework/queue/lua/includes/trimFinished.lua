-- trimFinished: apply retention to the completed or failed zset (score = finishedOn): keep at most
-- keepCount jobs (-1 = no count limit) and none older than keepAgeMs (0 = no age limit). Removes at most
-- 1000 jobs per call so a lowered limit never blocks the server for long. Needs: removeJobKeys.
local function trimFinished(setKey, base, keepCount, keepAgeMs, now)
  if keepCount >= 0 then
    local over = redis.call("ZCARD", setKey) - keepCount
    if over > 0 then
      if over > 1000 then over = 1000 end
      local old = redis.call("ZRANGE", setKey, 0, over - 1)
      for _, jobId in ipairs(old) do removeJobKeys(base, jobId) end
      redis.call("ZREMRANGEBYRANK", setKey, 0, over - 1)
    end
  end
  if keepAgeMs > 0 then
    local old = redis.call("ZRANGEBYSCORE", setKey, "-inf", now - keepAgeMs, "LIMIT", 0, 1000)
    for _, jobId in ipairs(old) do
      removeJobKeys(base, jobId)
      redis.call("ZREM", setKey, jobId)
    end
  end
end
