--[[
  setQueueLimits: set or remove a queue-wide limit, held by every worker of the queue (enforced when
  jobs are taken: includes/queueLimits.lua). Wakes idle workers, which may take more jobs now.

  KEYS[1] meta, KEYS[2] marker
  ARGV[1] action: "concurrency" (ARGV[2] = n), "rate" (ARGV[2] = max, ARGV[3] = window ms),
          "no-concurrency", "no-rate"

  Returns 1.
]]
local action = ARGV[1]
if action == "concurrency" then
  redis.call("HSET", KEYS[1], "concurrency", ARGV[2])
elseif action == "rate" then
  redis.call("HSET", KEYS[1], "max", ARGV[2], "duration", ARGV[3])
elseif action == "no-concurrency" then
  redis.call("HDEL", KEYS[1], "concurrency")
elseif action == "no-rate" then
  redis.call("HDEL", KEYS[1], "max", "duration")
else
  return redis.error_reply("setQueueLimits: unknown action " .. tostring(action))
end
if redis.call("HEXISTS", KEYS[1], "paused") == 0 then redis.call("ZADD", KEYS[2], 0, "0") end
return 1
