--[[
  pauseGroup: pause or resume one fair group. A paused group keeps its jobs (adds still work) but leaves
  the ring, so no worker takes them; active ones finish. Resuming puts it back (at the end of the turn
  order) and wakes a worker.

  KEYS[1] paused groups (set), KEYS[2] groups ring, KEYS[3] the group's waiting list, KEYS[4] marker,
  KEYS[5] meta
  ARGV[1] group id, ARGV[2] "pause" | "resume"

  Returns 1 when the group's state changed, 0 when it already was so.
]]
local gid = ARGV[1]
if ARGV[2] == "pause" then
  if redis.call("SADD", KEYS[1], gid) == 0 then return 0 end
  redis.call("LREM", KEYS[2], 0, gid)
  return 1
end
if redis.call("SREM", KEYS[1], gid) == 0 then return 0 end
if redis.call("LLEN", KEYS[3]) > 0 then
  redis.call("LREM", KEYS[2], 0, gid)
  redis.call("LPUSH", KEYS[2], gid)
  if redis.call("HEXISTS", KEYS[5], "paused") == 0 then redis.call("ZADD", KEYS[4], 0, "0") end
end
return 1
