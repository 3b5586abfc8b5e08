--[[
  addJobs: add many jobs in one call (add_bulk, and concurrent add() calls batched together). Each job is
  handled exactly as addJob does; workers are woken once at the end.

  KEYS[1] wait, KEYS[2] prioritized, KEYS[3] delayed, KEYS[4] meta, KEYS[5] id, KEYS[6] pc, KEYS[7] events,
  KEYS[8] marker

  ARGV[1] key base, "{prefix:queue}:"
  ARGV[2] timestamp (ms)
  ARGV[3] max events
  ARGV[4] number of jobs N, then N groups of 7:
    custom job id or "", name, data (JSON), opts (JSON), delay (ms), priority, lifo ("1" or "0")

  Returns a flat list {jobId1, created1, jobId2, created2, ...} (created 0 = an existing job id).
]]
--- @include "emit"
--- @include "pushReady"
--- @include "addOneJob"
local base, timestamp, maxEvents = ARGV[1], tonumber(ARGV[2]), ARGV[3]
local out = {}
local wakeAny = 0
for i = 0, tonumber(ARGV[4]) - 1 do
  local o = 5 + i * 7
  local jobId, created, wake = addOneJob(KEYS, base, ARGV[o], ARGV[o + 1], ARGV[o + 2], ARGV[o + 3], timestamp,
    tonumber(ARGV[o + 4]), tonumber(ARGV[o + 5]), ARGV[o + 6] == "1", maxEvents)
  out[#out + 1] = jobId
  out[#out + 1] = created
  if wake == 1 then wakeAny = 1 end
end
if wakeAny == 1 and redis.call("HEXISTS", KEYS[4], "paused") == 0 then
  redis.call("ZADD", KEYS[8], 0, "0")
end
return out
