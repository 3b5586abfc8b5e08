--[[
  addJobsOnce: one chunk of an add_bulk call, written at most once. As addJobs, and the chunk's reply is
  recorded under KEYS[9] for ARGV[5] ms: when the client sends the chunk again (it re-sends a pipeline whose
  connection dropped before the replies came back), the recorded reply is returned and nothing is written,
  so a dropped connection cannot duplicate jobs.

  KEYS[1] wait, KEYS[2] prioritized, KEYS[3] delayed, KEYS[4] meta, KEYS[5] id, KEYS[6] pc, KEYS[7] events,
  KEYS[8] marker, KEYS[9] this chunk's record ("{prefix:queue}:bulk:<call id>:<chunk index>")

  ARGV[1] key base, "{prefix:queue}:"
  ARGV[2] timestamp (ms)
  ARGV[3] max events
  ARGV[4] number of jobs N
  ARGV[5] how long the record is kept (ms)
  then N groups of 7: custom job id or "", name, data (JSON), opts (JSON), delay (ms), priority, lifo ("1"/"0")

  Returns a flat list {jobId1, created1, jobId2, created2, ...} (created 0 = an existing job id).
]]
--- @include "emit"
--- @include "pushReady"
--- @include "addOneJob"
local recorded = redis.call("GET", KEYS[9])
if recorded then
  return cjson.decode(recorded)
end
local base, timestamp, maxEvents = ARGV[1], tonumber(ARGV[2]), ARGV[3]
local out = {}
local wakeAny = 0
for i = 0, tonumber(ARGV[4]) - 1 do
  local o = 6 + i * 7
  local jobId, created, wake = addOneJob(KEYS, base, ARGV[o], ARGV[o + 1], ARGV[o + 2], ARGV[o + 3], timestamp,
    tonumber(ARGV[o + 4]), tonumber(ARGV[o + 5]), ARGV[o + 6] == "1", maxEvents)
  out[#out + 1] = jobId
  out[#out + 1] = created
  if wake == 1 then wakeAny = 1 end
end
if wakeAny == 1 and redis.call("HEXISTS", KEYS[4], "paused") == 0 then
  redis.call("ZADD", KEYS[8], 0, "0")
end
redis.call("SET", KEYS[9], cjson.encode(out), "PX", ARGV[5])
return out
