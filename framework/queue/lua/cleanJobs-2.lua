--[[
  cleanJobs: remove up to `limit` jobs of one state that are older than a grace period (finishedOn for
  completed/failed, timestamp for the others). Active jobs are never cleaned.

  KEYS[1] the state's key (a zset for completed/failed/delayed/prioritized, the wait list for waiting)
  KEYS[2] events
  ARGV[1] key base, ARGV[2] cutoff (ms: jobs at or before it go), ARGV[3] limit, ARGV[4] "zset-finished" |
  "zset" | "list", ARGV[5] max events

  Returns the removed job ids.
]]
--- @include "emit"
--- @include "removeJobKeys"
local base, cutoff, limit, kind = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4]
local removed = {}
if kind == "zset-finished" then
  removed = redis.call("ZRANGEBYSCORE", KEYS[1], "-inf", cutoff, "LIMIT", 0, limit)
  for _, jobId in ipairs(removed) do
    removeJobKeys(base, jobId)
    redis.call("ZREM", KEYS[1], jobId)
  end
else
  local ids
  if kind == "list" then
    ids = redis.call("LRANGE", KEYS[1], -limit, -1)
  else
    ids = redis.call("ZRANGE", KEYS[1], 0, limit - 1)
  end
  for _, jobId in ipairs(ids) do
    local ts = tonumber(redis.call("HGET", base .. jobId, "timestamp") or "0")
    if ts <= cutoff then
      removed[#removed + 1] = jobId
      removeJobKeys(base, jobId)
      if kind == "list" then redis.call("LREM", KEYS[1], 0, jobId) else redis.call("ZREM", KEYS[1], jobId) end
    end
  end
end
for _, jobId in ipairs(removed) do emit(KEYS[2], ARGV[5], "removed", "jobId", jobId) end
return removed
