-- promoteDelayed: move delayed jobs that fell due (score <= now) to the ready structures, 1000 at a time.
-- Like a manual promote, it resets the job's delay (and due time): the job is no longer delayed.
-- Needs: pushReady, emit.
local function promoteDelayed(delayedKey, waitKey, prioritizedKey, pcKey, eventsKey, markerKey, base, now, maxEvents)
  local due = redis.call("ZRANGEBYSCORE", delayedKey, "-inf", now, "LIMIT", 0, 1000)
  for _, jobId in ipairs(due) do
    redis.call("ZREM", delayedKey, jobId)
    local fields = redis.call("HMGET", base .. jobId, "priority", "lifo", "name")
    if fields[3] then
      -- readyOn: when it became ready, so its wait time (metrics) does not count the delay.
      redis.call("HSET", base .. jobId, "delay", 0, "readyOn", now)
      redis.call("HDEL", base .. jobId, "dueOn")
      pushReady(waitKey, prioritizedKey, pcKey, jobId, tonumber(fields[1]) or 0, fields[2] == "1")
      emit(eventsKey, maxEvents, "waiting", "jobId", jobId, "prev", "delayed")
    end
  end
  if #due > 0 then
    redis.call("ZADD", markerKey, 0, "0")
  end
  return #due
end
