--[[
  drain: remove up to `count` jobs that are waiting (and prioritized, and delayed when asked), with their
  hashes. Active jobs are left alone. Called repeatedly until it returns 0, so a large queue never blocks
  the server in one long call.

  KEYS[1] wait, KEYS[2] prioritized, KEYS[3] delayed, KEYS[4] events
  (Waiting jobs of fair groups go too: their lists are found from the groups ring, see groups.lua.)
  ARGV[1] key base, ARGV[2] count, ARGV[3] "1" to drain delayed jobs too, ARGV[4] max events

  Emits `emptied` with the count removed. Returns the number of jobs removed by this call.
]]
--- @include "emit"
--- @include "removeJobKeys"
--- @include "removeFromGroup"
local base, count = ARGV[1], tonumber(ARGV[2])
local removed = 0
local ids = redis.call("LRANGE", KEYS[1], -count, -1)
for _, jobId in ipairs(ids) do removeJobKeys(base, jobId) end
if #ids > 0 then redis.call("LTRIM", KEYS[1], 0, -#ids - 1) end
removed = removed + #ids
local sets = {KEYS[2]}
if ARGV[3] == "1" then sets[2] = KEYS[3] end
for _, setKey in ipairs(sets) do
  if removed < count then
    ids = redis.call("ZRANGE", setKey, 0, count - removed - 1)
    for _, jobId in ipairs(ids) do removeJobKeys(base, jobId) end
    if #ids > 0 then redis.call("ZREMRANGEBYRANK", setKey, 0, #ids - 1) end
    removed = removed + #ids
  end
end
if removed < count then removed = removed + drainGroups(base, count - removed) end
-- Not "drained": that event means "no jobs left for the workers" (BullMQ); this one says who emptied it.
if removed > 0 then emit(KEYS[4], ARGV[4], "emptied", "removed", removed) end
return removed
