--[[
  jobSummary: a job's hash for a listing, without its large fields: `data`, `returnvalue`, `failedReason`
  and `progress` are cut to their first ARGV[1] bytes, `stacktrace` is left out. Reads only. A listing of
  large jobs then costs its reader a few kilobytes per job instead of whole payloads.

  KEYS[1] job hash
  ARGV[1] bytes kept of each large field

  Returns a flat {field, value, ...} list (HGETALL's shape), plus `<field>:len` = the full length of each cut
  field; empty when the job does not exist.
]]
local head = tonumber(ARGV[1])
local out = {}
local small = {"name", "opts", "timestamp", "delay", "priority", "attemptsMade", "ats", "stc", "processedOn",
  "finishedOn", "worker"}
local values = redis.call("HMGET", KEYS[1], unpack(small))
for i, field in ipairs(small) do
  if values[i] then
    out[#out + 1] = field
    out[#out + 1] = values[i]
  end
end
if #out == 0 then return out end
for _, field in ipairs({"data", "returnvalue", "failedReason", "progress"}) do
  local size = redis.call("HSTRLEN", KEYS[1], field)
  if size > 0 then
    local value = redis.call("HGET", KEYS[1], field)
    out[#out + 1] = field
    out[#out + 1] = string.sub(value, 1, head)
    out[#out + 1] = field .. ":len"
    out[#out + 1] = size
  end
end
return out
