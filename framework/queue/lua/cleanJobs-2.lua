--[[
  cleanJobs: remove up to `limit` jobs of one state that are older than a grace period (finishedOn for
  completed/failed, timestamp for the others). Active jobs are never cleaned.

  KEYS[1] the state's key (a zset for completed/failed/delayed/prioritized, the wait list for waiting)
  KEYS[2] events
  ARGV[1] key base, ARGV[2] cutoff (ms: jobs at or before it go), ARGV[3] limit, ARGV[4] "zset-finished" |
  "zset" | "list", ARGV[5] max events

  Emits one `cleaned` event with the count. Returns the removed job ids.
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
  -- Not ordered by age (a retried or long-delayed job can sit anywhere): scan in windows of 1000 until
  -- `limit` old jobs are found or the structure is exhausted, then remove them.
  local start = 0
  while #removed < limit do
    local ids
    if kind == "list" then
      ids = redis.call("LRANGE", KEYS[1], -(start + 1000), -(start + 1))
    else
      ids = redis.call("ZRANGE", KEYS[1], start, start + 999)
    end
    if #ids == 0 then break end
    -- The list's next-to-run end is on the right: walk each window from there.
    local first, last, step = 1, #ids, 1
    if kind == "list" then first, last, step = #ids, 1, -1 end
    for i = first, last, step do
      local jobId = ids[i]
      local ts = tonumber(redis.call("HGET", base .. jobId, "timestamp") or "0")
      if ts <= cutoff and #removed < limit then removed[#removed + 1] = jobId end
    end
    if #ids < 1000 then break end
    start = start + 1000
  end
  for _, jobId in ipairs(removed) do
    removeJobKeys(base, jobId)
    if kind == "list" then redis.call("LREM", KEYS[1], 0, jobId) else redis.call("ZREM", KEYS[1], jobId) end
  end
end
-- One event for the whole call (BullMQ's `cleaned`), not one per job: a large clean would flood the stream.
if #removed > 0 then emit(KEYS[2], ARGV[5], "cleaned", "count", #removed) end
return removed
