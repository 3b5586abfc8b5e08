--[[
  changeDelay: a delayed job runs `delay` ms from now instead of when it was due.

  KEYS[1] job hash, KEYS[2] delayed, KEYS[3] events, KEYS[4] marker
  ARGV[1] job id, ARGV[2] delay (ms), ARGV[3] now (ms), ARGV[4] max events

  Returns 1, 0 when the job is not delayed, -1 when it is gone.
]]
--- @include "emit"
local jobId, delay, now = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
if redis.call("EXISTS", KEYS[1]) == 0 then return -1 end
if not redis.call("ZSCORE", KEYS[2], jobId) then return 0 end
local ts = tonumber(redis.call("HGET", KEYS[1], "timestamp")) or now
redis.call("HSET", KEYS[1], "delay", now + delay - ts)
redis.call("ZADD", KEYS[2], now + delay, jobId)
emit(KEYS[3], ARGV[4], "delayed", "jobId", jobId, "delay", now + delay)
-- A blocked worker shortens its wait if the job now falls due before the ones it knew of.
redis.call("ZADD", KEYS[4], 0, "0")
return 1
