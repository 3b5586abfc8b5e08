-- Flows: a parent job's bookkeeping, kept in the parent's queue (hash tag) beside its hash:
--   <parentKey>:dependencies  set of the full job keys of children not finished yet
--   <parentKey>:processed     hash child key -> return value (JSON) of each completed child
--   <parentKey>:failed        hash child key -> failed reason of children whose failure was ignored
--                             (ignore_dependency_on_failure, continue_parent_on_failure)
--   <parentKey>:unsuccessful  zset child key -> time, children that failed their parent
--                             (fail_parent_on_failure)
-- A child's hash names its parent in field "parentKey" and its failure policy in "pof" ("f" fail parent,
-- "c" continue parent, "i" ignore, "r" remove dependency). Every update here removes the child from the
-- dependencies set first and acts only when that removal happened, so running one twice (a retried step)
-- neither counts a child twice nor moves a parent twice. A parent whose last dependency is gone moves
-- from waiting-children to waiting (or delayed, when it was added with a delay).
-- The parent's keys are derived from its job key: on one server a script may touch them; on a cluster
-- the parent may live in another slot (see docs/flows.md). Needs: emit, pushReady.

-- "{prefix:queue}:id" -> "{prefix:queue}:", "id" (job ids never contain ':').
local function flowSplitKey(jobKey)
  return string.match(jobKey, "^(.*:)([^:]+)$")
end

-- Move a parent from waiting-children to waiting (or delayed) when it is there. Returns 1 when moved.
local function flowReleaseParent(parentKey, now, maxEvents)
  local pbase, pid = flowSplitKey(parentKey)
  if redis.call("ZREM", pbase .. "waiting-children", pid) == 0 then return 0 end
  local f = redis.call("HMGET", parentKey, "priority", "lifo", "delay", "ats")
  local events = pbase .. "events"
  -- A parent added with a delay waits it out after its children; one that already ran (dynamic
  -- children) goes straight back to waiting.
  local delay = 0
  if not f[4] then delay = tonumber(f[3]) or 0 end
  if delay > 0 then
    redis.call("ZADD", pbase .. "delayed", now + delay, pid)
    emit(events, maxEvents, "delayed", "jobId", pid, "delay", now + delay, "prev", "waiting-children")
    redis.call("ZADD", pbase .. "marker", 0, "0")
  else
    pushReady(pbase .. "wait", pbase .. "prioritized", pbase .. "pc", pid, tonumber(f[1]) or 0, f[2] == "1")
    emit(events, maxEvents, "waiting", "jobId", pid, "prev", "waiting-children")
    if redis.call("HEXISTS", pbase .. "meta", "paused") == 0 then
      redis.call("ZADD", pbase .. "marker", 0, "0")
    end
  end
  return 1
end

local function flowReleaseIfDone(parentKey, now, maxEvents)
  if redis.call("SCARD", parentKey .. ":dependencies") == 0 then
    flowReleaseParent(parentKey, now, maxEvents)
  end
end

-- A child completed: record its value in the parent, release the parent when it was the last one.
local function flowChildCompleted(childKey, parentKey, value, now, maxEvents)
  if redis.call("SREM", parentKey .. ":dependencies", childKey) == 1 then
    redis.call("HSET", parentKey .. ":processed", childKey, value)
    flowReleaseIfDone(parentKey, now, maxEvents)
  end
end

-- A child failed for good (its last attempt, a stall, a cancel): apply its failure policy. A parent
-- failed by fail_parent_on_failure is itself a failed child of its own parent: applied up the tree.
local function flowChildFailed(childKey, parentKey, pof, reason, now, maxEvents)
  for _ = 1, 64 do
    local deps = parentKey .. ":dependencies"
    if pof == "f" then
      if redis.call("SREM", deps, childKey) == 0 then return end
      redis.call("ZADD", parentKey .. ":unsuccessful", now, childKey)
      local pbase, pid = flowSplitKey(parentKey)
      if redis.call("ZREM", pbase .. "waiting-children", pid) == 0 then return end
      local cbase, cid = flowSplitKey(childKey)
      local cqueue = string.match(cbase, "^{.*:([^:]*)}:$") or cbase
      local preason = "child " .. cqueue .. ":" .. cid .. " failed: " .. reason
      local attempts = redis.call("HGET", parentKey, "attemptsMade") or 0
      redis.call("HSET", parentKey, "failedReason", preason, "finishedOn", now)
      redis.call("ZADD", pbase .. "failed", now, pid)
      emit(pbase .. "events", maxEvents, "failed", "jobId", pid, "failedReason", preason,
        "attemptsMade", attempts, "prev", "waiting-children")
      local up = redis.call("HMGET", parentKey, "parentKey", "pof")
      if not up[1] then return end
      childKey, parentKey, pof, reason = parentKey, up[1], up[2] or "", preason
    elseif pof == "c" then
      if redis.call("SREM", deps, childKey) == 1 then
        redis.call("HSET", parentKey .. ":failed", childKey, reason)
        flowReleaseParent(parentKey, now, maxEvents)
      end
      return
    elseif pof == "i" or pof == "r" then
      if redis.call("SREM", deps, childKey) == 1 then
        if pof == "i" then redis.call("HSET", parentKey .. ":failed", childKey, reason) end
        flowReleaseIfDone(parentKey, now, maxEvents)
      end
      return
    else
      -- No policy (BullMQ's default): the child stays a pending dependency and the parent keeps waiting,
      -- until the child is retried and completes, or is removed.
      return
    end
  end
end

-- A job finished for good: tell its parent, if it has one. kind is "completed" or "failed".
local function flowJobFinished(jobKey, parentKey, kind, value, now, maxEvents)
  if not parentKey then return end
  -- Gone (removed), or not a job hash (edited by hand): nothing to update.
  if redis.call("TYPE", parentKey).ok ~= "hash" then return end
  if kind == "completed" then
    flowChildCompleted(jobKey, parentKey, value, now, maxEvents)
  else
    flowChildFailed(jobKey, parentKey, redis.call("HGET", jobKey, "pof") or "", value, now, maxEvents)
  end
end

-- A running job raised WaitingChildrenError: wait in waiting-children while it has pending children,
-- else go straight back to waiting. Its lock and active entry are already gone.
local function flowWaitForChildren(base, jobId, now, maxEvents)
  local jobKey = base .. jobId
  if redis.call("SCARD", jobKey .. ":dependencies") > 0 then
    redis.call("ZADD", base .. "waiting-children", now, jobId)
    emit(base .. "events", maxEvents, "waiting-children", "jobId", jobId)
    return 1
  end
  redis.call("ZADD", base .. "waiting-children", now, jobId)
  flowReleaseParent(jobKey, now, maxEvents)
  return 0
end

-- A job is being removed: remove its children that have not finished (their own pending children too),
-- except active ones, which are left to finish and then find no parent; and take the job out of its own
-- parent's dependencies (releasing that parent when it was the last one).
local function flowRemoveLinks(jobKey, now, maxEvents)
  local stack = redis.call("SMEMBERS", jobKey .. ":dependencies")
  while #stack > 0 do
    local key = table.remove(stack)
    local kbase, kid = flowSplitKey(key)
    if redis.call("ZSCORE", kbase .. "active", kid) then
      redis.call("HDEL", key, "parentKey")
    elseif redis.call("EXISTS", key) == 1 then
      redis.call("LREM", kbase .. "wait", 0, kid)
      redis.call("ZREM", kbase .. "prioritized", kid)
      redis.call("ZREM", kbase .. "delayed", kid)
      redis.call("ZREM", kbase .. "waiting-children", kid)
      redis.call("ZREM", kbase .. "completed", kid)
      redis.call("ZREM", kbase .. "failed", kid)
      for _, child in ipairs(redis.call("SMEMBERS", key .. ":dependencies")) do
        stack[#stack + 1] = child
      end
      redis.call("DEL", key, key .. ":logs", key .. ":lock", key .. ":dependencies", key .. ":processed",
        key .. ":failed", key .. ":unsuccessful")
      emit(kbase .. "events", maxEvents, "removed", "jobId", kid, "prev", "parent removed")
    end
  end
  local parentKey = redis.call("HGET", jobKey, "parentKey")
  if parentKey and redis.call("SREM", parentKey .. ":dependencies", jobKey) == 1 then
    flowReleaseIfDone(parentKey, now, maxEvents)
  end
end
