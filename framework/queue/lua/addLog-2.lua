--[[
  addLog: append a line to a job's log, keeping the newest `keep` lines.

  KEYS[1] job hash, KEYS[2] job logs list
  ARGV[1] line, ARGV[2] keep

  Returns the number of lines, or 0 when the job no longer exists.
]]
if redis.call("EXISTS", KEYS[1]) == 0 then return 0 end
local n = redis.call("RPUSH", KEYS[2], ARGV[1])
local keep = tonumber(ARGV[2])
if n > keep then
  redis.call("LTRIM", KEYS[2], -keep, -1)
  n = keep
end
return n
