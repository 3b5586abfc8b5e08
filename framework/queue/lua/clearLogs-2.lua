--[[
  clearLogs: delete a job's log lines.

  KEYS[1] job hash, KEYS[2] job logs
  ARGV[1] lines to keep (newest; 0 = none)

  Returns 1, or -1 when the job is gone.
]]
if redis.call("EXISTS", KEYS[1]) == 0 then return -1 end
local keep = tonumber(ARGV[1])
if keep > 0 then
  redis.call("LTRIM", KEYS[2], -keep, -1)
else
  redis.call("DEL", KEYS[2])
end
return 1
