-- groups: fair groups (per-tenant round-robin). A grouped job waits in its group's list `base.."g:"..gid`
-- (LPUSH = FIFO, RPUSH = lifo; taken with RPOP) instead of the wait list. The ring `base.."groups"` lists
-- the groups that have waiting jobs and are not paused, each once; fetching rotates it, so each group
-- gets a turn in order. Paused groups are in the set `base.."gpaused"` and out of the ring. The ring and
-- paused keys share the queue's hash tag (one slot); they are built from `base` because the scripts that
-- fetch (moveToActive, moveToFinished) pass the same KEYS whether or not groups are in use.
-- A grouped job that reaches the wait list another way (retry, delayed job falling due, stalled, released)
-- is moved into its group when a worker pops it (see takeReady).

-- pushGroup: put job `jobId` of group `gid` at the back (or, lifo, the front) of its group. Returns 0 when
-- the group is paused, 2 when the group just joined the ring, else 1 (a worker may take it: wake one).
local function pushGroup(base, gid, jobId, lifo)
  local groupKey = base .. "g:" .. gid
  local n
  if lifo then
    n = redis.call("RPUSH", groupKey, jobId)
  else
    n = redis.call("LPUSH", groupKey, jobId)
  end
  if redis.call("SISMEMBER", base .. "gpaused", gid) == 1 then return 0 end
  if n == 1 then
    redis.call("LPUSH", base .. "groups", gid)
    return 2
  end
  return 1
end

-- groupActiveCount: jobs of the group that are active now. The group's `:active` zset is cleaned lazily:
-- a member no longer in the queue's active zset has finished (or gone back to waiting).
local function groupActiveCount(groupKey, activeKey)
  local members = redis.call("ZRANGE", groupKey .. ":active", 0, -1)
  local count = 0
  for _, jobId in ipairs(members) do
    if redis.call("ZSCORE", activeKey, jobId) then
      count = count + 1
    else
      redis.call("ZREM", groupKey .. ":active", jobId)
    end
  end
  return count
end

-- takeFromGroups: the next job of the next group in the ring that is under its limits, or nil.
-- gc = group concurrency (0 = none), gmax/gdur = group rate limit (gmax 0 = none). Passes over at most
-- `budget` groups. Returns jobId (or nil), groups passed over, and the ms until a rate-limited group
-- frees up (0 = none is).
local function takeFromGroups(base, activeKey, now, gc, gmax, gdur, budget)
  local ringKey = base .. "groups"
  local looks = redis.call("LLEN", ringKey)
  if looks > budget + 1 then looks = budget + 1 end
  local waitMs = 0
  for i = 1, looks do
    local gid = redis.call("LMOVE", ringKey, ringKey, "RIGHT", "LEFT")
    local groupKey = base .. "g:" .. gid
    local ok = true
    if gc > 0 and groupActiveCount(groupKey, activeKey) >= gc then ok = false end
    if ok and gmax > 0 then
      local used = tonumber(redis.call("GET", groupKey .. ":limiter")) or 0
      if used >= gmax then
        local ttl = redis.call("PTTL", groupKey .. ":limiter")
        if ttl > 0 then
          ok = false
          if waitMs == 0 or ttl < waitMs then waitMs = ttl end
        else
          redis.call("DEL", groupKey .. ":limiter")
        end
      end
    end
    if ok then
      local jobId = redis.call("RPOP", groupKey)
      -- The group was just rotated to the left end of the ring: LPOP drops it once it is empty.
      if redis.call("LLEN", groupKey) == 0 then redis.call("LPOP", ringKey) end
      if jobId then
        if gmax > 0 and redis.call("INCR", groupKey .. ":limiter") == 1 then
          redis.call("PEXPIRE", groupKey .. ":limiter", gdur)
        end
        if gc > 0 then redis.call("ZADD", groupKey .. ":active", now, jobId) end
        return jobId, i - 1, 0
      end
    end
  end
  return nil, looks, waitMs
end
