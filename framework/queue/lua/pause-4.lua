--[[
  pause: pause or resume a queue. Paused: workers take no new jobs (active ones finish); jobs can still
  be added. Resuming wakes the workers.

  KEYS[1] meta, KEYS[2] events, KEYS[3] marker, KEYS[4] wait
  ARGV[1] "pause" or "resume", ARGV[2] max events

  Returns 1 when the state changed, 0 when it already was so.
]]
--- @include "emit"
if ARGV[1] == "pause" then
  if redis.call("HSETNX", KEYS[1], "paused", "1") == 0 then return 0 end
  emit(KEYS[2], ARGV[2], "paused")
else
  if redis.call("HDEL", KEYS[1], "paused") == 0 then return 0 end
  emit(KEYS[2], ARGV[2], "resumed")
  redis.call("ZADD", KEYS[3], 0, "0")
end
return 1
