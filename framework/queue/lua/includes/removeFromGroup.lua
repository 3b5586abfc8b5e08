-- removeFromGroup: take a waiting job out of its fair group's list (see groups.lua); the group leaves the
-- ring once empty. Returns how many entries were removed (0 for a job without a group).
local function removeFromGroup(base, jobId)
  local gid = redis.call("HGET", base .. jobId, "gid")
  if not gid then return 0 end
  local groupKey = base .. "g:" .. gid
  local n = redis.call("LREM", groupKey, 0, jobId)
  if n > 0 and redis.call("LLEN", groupKey) == 0 then redis.call("LREM", base .. "groups", 0, gid) end
  return n
end

-- drainGroups: remove up to `count` waiting jobs of fair groups (paused ones too), with their hashes.
-- Needs: removeJobKeys.
local function drainGroups(base, count)
  local removed = 0
  local gids = redis.call("LRANGE", base .. "groups", 0, -1)
  for _, gid in ipairs(redis.call("SMEMBERS", base .. "gpaused")) do gids[#gids + 1] = gid end
  for _, gid in ipairs(gids) do
    if removed >= count then break end
    local groupKey = base .. "g:" .. gid
    local ids = redis.call("LRANGE", groupKey, -(count - removed), -1)
    for _, jobId in ipairs(ids) do removeJobKeys(base, jobId) end
    if #ids > 0 then redis.call("LTRIM", groupKey, 0, -#ids - 1) end
    removed = removed + #ids
    if redis.call("LLEN", groupKey) == 0 then redis.call("LREM", base .. "groups", 0, gid) end
  end
  return removed
end
