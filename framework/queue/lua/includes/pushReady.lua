-- pushReady: put a job id where workers fetch it: the prioritized zset (priority > 0, FIFO within a
-- priority through a counter in the low bits of the score) or the wait list (LPUSH = FIFO, RPUSH = LIFO,
-- since workers RPOP).
local function pushReady(waitKey, prioritizedKey, pcKey, jobId, priority, lifo)
  if priority > 0 then
    local seq = redis.call("INCR", pcKey) % 4294967296
    redis.call("ZADD", prioritizedKey, priority * 4294967296 + seq, jobId)
  elseif lifo then
    redis.call("RPUSH", waitKey, jobId)
  else
    redis.call("LPUSH", waitKey, jobId)
  end
end
