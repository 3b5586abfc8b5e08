--[[
  moveActiveJob: a running job goes back without using an attempt: to delayed (a step job: DelayedError,
  job.move_to_delayed) or to the front of the wait list (RateLimitError). Only the worker that holds the
  job may move it: its lock holds the token, or the lock lapsed while the job is still active under the
  token (nobody took it over).

  KEYS[1] active, KEYS[2] wait, KEYS[3] delayed, KEYS[4] job hash, KEYS[5] job lock, KEYS[6] events,
  KEYS[7] marker

  ARGV[1] job id, ARGV[2] token, ARGV[3] target ("delayed" | "wait"), ARGV[4] due time (ms, for delayed),
  ARGV[5] max events

  Returns 1 moved, 0 not ours (lock lost, or already moved), -1 the job is gone.
]]
--- @include "emit"
local jobId, token, target = ARGV[1], ARGV[2], ARGV[3]
local f = redis.call("HMGET", KEYS[4], "name", "worker", "ats")
if not f[1] then return -1 end
local lock = redis.call("GET", KEYS[5])
local active = redis.call("ZSCORE", KEYS[1], jobId)
if not active then return 0 end
if lock ~= token and not (not lock and token == (f[2] or "") .. ":" .. (f[3] or "")) then return 0 end
redis.call("DEL", KEYS[5])
redis.call("ZREM", KEYS[1], jobId)
if target == "delayed" then
  local due = tonumber(ARGV[4])
  local ts = tonumber(redis.call("HGET", KEYS[4], "timestamp")) or due
  local delay = due - ts
  if delay < 0 then delay = 0 end
  redis.call("HSET", KEYS[4], "delay", delay)
  redis.call("ZADD", KEYS[3], due, jobId)
  emit(KEYS[6], ARGV[5], "delayed", "jobId", jobId, "delay", due)
else
  redis.call("RPUSH", KEYS[2], jobId)
  emit(KEYS[6], ARGV[5], "waiting", "jobId", jobId, "prev", "active")
end
redis.call("ZADD", KEYS[7], 0, "0")
return 1
