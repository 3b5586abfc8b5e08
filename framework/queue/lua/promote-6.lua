--[[
  promote: move delayed jobs to the ready structures now. With a job id, only that job (if delayed);
  without, up to `count` delayed jobs in due order.

  KEYS[1] delayed, KEYS[2] wait, KEYS[3] prioritized, KEYS[4] pc, KEYS[5] events, KEYS[6] marker
  ARGV[1] key base, ARGV[2] job id or "", ARGV[3] count, ARGV[4] max events

  Returns the number of jobs promoted (0 when the job was not delayed).
]]
--- @include "emit"
--- @include "pushReady"
local base = ARGV[1]
local time = redis.call("TIME")
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local ids
if ARGV[2] ~= "" then
  if not redis.call("ZSCORE", KEYS[1], ARGV[2]) then return 0 end
  ids = {ARGV[2]}
else
  ids = redis.call("ZRANGE", KEYS[1], 0, tonumber(ARGV[3]) - 1)
end
for _, jobId in ipairs(ids) do
  redis.call("ZREM", KEYS[1], jobId)
  local fields = redis.call("HMGET", base .. jobId, "priority", "lifo", "name")
  if fields[3] then
    -- readyOn: when it became ready, so its wait time (metrics) does not count the delay.
    redis.call("HSET", base .. jobId, "delay", 0, "readyOn", now)
    redis.call("HDEL", base .. jobId, "dueOn")
    pushReady(KEYS[2], KEYS[3], KEYS[4], jobId, tonumber(fields[1]) or 0, fields[2] == "1")
    emit(KEYS[5], ARGV[4], "waiting", "jobId", jobId, "prev", "delayed")
  end
end
if #ids > 0 then redis.call("ZADD", KEYS[6], 0, "0") end
return #ids
