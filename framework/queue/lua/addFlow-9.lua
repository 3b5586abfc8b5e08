--[[
  addFlow: write flow trees (FlowProducer.add / add_bulk) in one atomic step: every job of each tree, each
  parent in waiting-children with its children's keys in <parentKey>:dependencies, each leaf ready (or
  delayed). Trees may span queues: KEYS holds one group of 9 keys per queue (variadic, 9 per group).
  Nodes come parent first (pre-order), so a child names an already written parent; a node without a
  parent node starts a new tree. Everything is checked before the first write: nothing is written when a
  check fails.

  Per queue group g (0-based), KEYS[9g+1] wait, KEYS[9g+2] prioritized, KEYS[9g+3] delayed, KEYS[9g+4] meta,
  KEYS[9g+5] id, KEYS[9g+6] pc, KEYS[9g+7] events, KEYS[9g+8] marker, KEYS[9g+9] waiting-children.
  A node whose parent already exists (a dynamic child, `parent=` option) names that parent's job key in
  ARGV: it is read from the parent's queue, which may be another slot (single server; see flowParent).

  ARGV[1] timestamp (ms), ARGV[2] max events, ARGV[3] number of nodes N, then N groups of 12:
    queue group (1-based), custom job id or "", name, data (JSON), opts (JSON), delay (ms), priority,
    lifo ("1"/"0"), parent node (1-based index in this list, "0" = none), existing parent job key or "",
    failure policy for the parent ("f" | "c" | "i" | "r" | ""), has children ("1"/"0")

  Returns one entry per node: its job id; for the root of a tree whose custom id already exists, "=" and
  that id, and "" for the rest of that tree (nothing of it written: adding the same flow twice is a
  no-op). An error, with nothing written, when a child's custom id exists or an existing parent is missing.
]]
--- @variadic-keys
--- @include "emit"
--- @include "pushReady"
if not KEYS[1] then return redis.error_reply("addFlow: no queue keys") end
local timestamp, maxEvents, n = tonumber(ARGV[1]), ARGV[2], tonumber(ARGV[3])
local G = 12
local function group(qi) return (qi - 1) * 9 end
local function baseOf(qi) return string.sub(KEYS[group(qi) + 1], 1, -5) end -- "...:wait" -> "...:"

-- 1. checks; skip[i] marks the nodes of a tree whose root exists already.
local skip = {}
for i = 0, n - 1 do
  local o = 4 + i * G
  local qi, customId, parentKey = tonumber(ARGV[o]), ARGV[o + 1], ARGV[o + 9]
  local parentIndex = tonumber(ARGV[o + 8])
  if parentIndex > 0 and skip[parentIndex] then
    skip[i + 1] = true
  elseif customId ~= "" and redis.call("EXISTS", baseOf(qi) .. customId) == 1 then
    if parentIndex > 0 then
      return redis.error_reply("job " .. customId .. " already exists in " .. baseOf(qi)
        .. ": a job of a new flow cannot reuse it; give another job_id")
    end
    skip[i + 1] = true
  elseif parentKey ~= "" and redis.call("EXISTS", parentKey) == 0 then
    return redis.error_reply("parent job " .. parentKey .. " does not exist (removed, or never added)")
  end
end

-- 2. writes
local keys, out = {}, {}
local wake = {}
local function write(i, o)
  local qi = tonumber(ARGV[o])
  local g = group(qi)
  local base = baseOf(qi)
  local jobId = ARGV[o + 1]
  if jobId == "" then jobId = tostring(redis.call("INCR", KEYS[g + 5])) end
  local jobKey = base .. jobId
  local name, delay, priority = ARGV[o + 2], tonumber(ARGV[o + 5]), tonumber(ARGV[o + 6])
  local lifo = ARGV[o + 7] == "1"
  redis.call("HSET", jobKey, "name", name, "data", ARGV[o + 3], "opts", ARGV[o + 4], "timestamp", timestamp,
    "delay", delay, "priority", priority, "attemptsMade", 0)
  if lifo then redis.call("HSET", jobKey, "lifo", "1") end
  local parentKey = ARGV[o + 9]
  local parentIndex = tonumber(ARGV[o + 8])
  if parentIndex > 0 then parentKey = keys[parentIndex] end
  if parentKey ~= "" then
    redis.call("HSET", jobKey, "parentKey", parentKey)
    if ARGV[o + 10] ~= "" then redis.call("HSET", jobKey, "pof", ARGV[o + 10]) end
    redis.call("SADD", parentKey .. ":dependencies", jobKey)
  end
  local events = KEYS[g + 7]
  emit(events, maxEvents, "added", "jobId", jobId, "name", name)
  if ARGV[o + 11] == "1" then
    redis.call("ZADD", KEYS[g + 9], timestamp, jobId)
    emit(events, maxEvents, "waiting-children", "jobId", jobId)
  elseif delay > 0 then
    redis.call("ZADD", KEYS[g + 3], timestamp + delay, jobId)
    emit(events, maxEvents, "delayed", "jobId", jobId, "delay", timestamp + delay)
    wake[qi] = "always"
  else
    pushReady(KEYS[g + 1], KEYS[g + 2], KEYS[g + 6], jobId, priority, lifo)
    emit(events, maxEvents, "waiting", "jobId", jobId)
    if not wake[qi] then wake[qi] = "ready" end
  end
  keys[i + 1] = jobKey
  return jobId
end
for i = 0, n - 1 do
  local o = 4 + i * G
  if not skip[i + 1] then
    out[i + 1] = write(i, o)
  elseif tonumber(ARGV[o + 8]) == 0 then
    out[i + 1] = "=" .. ARGV[o + 1]
  else
    out[i + 1] = ""
  end
end
for qi, why in pairs(wake) do
  local g = group(qi)
  if why == "always" or redis.call("HEXISTS", KEYS[g + 4], "paused") == 0 then
    redis.call("ZADD", KEYS[g + 8], 0, "0")
  end
end
return out
