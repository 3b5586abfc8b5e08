-- releaseDeduplication: a job that ends (completed or failed for good) frees its deduplication id, unless
-- the id has a ttl (throttle: held until the ttl is over) or names another job by now. (An id left behind
-- by a job that ended another way, cancelled or removed, is found stale by the next add: see
-- addControlledJob.)
local function releaseDeduplication(base, jobId, deid)
  local key = base .. "de:" .. deid
  if redis.call("PTTL", key) == -1 and redis.call("GET", key) == jobId then
    redis.call("DEL", key)
  end
end
