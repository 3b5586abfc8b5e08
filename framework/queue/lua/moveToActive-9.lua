--[[
  moveToActive: promote delayed jobs that fell due, then take up to `count` ready jobs for one worker
  (locked, marked active). Nothing is taken while the queue is paused.

  KEYS[1] wait
  KEYS[2] active        zset of job ids by processedOn
  KEYS[3] prioritized
  KEYS[4] delayed
  KEYS[5] meta
  KEYS[6] events
  KEYS[7] marker
  KEYS[8] limiter       rate-limit window counter
  KEYS[9] pc

  ARGV[1] key base, ARGV[2] worker id, ARGV[3] lock duration (ms), ARGV[4] now (ms), ARGV[5] count,
  ARGV[6] max events, ARGV[7] rate limit max (0 = none), ARGV[8] rate limit window (ms),
  ARGV[9] clock offset (ms, optional): with ARGV[4] empty, now = the server's clock + this offset. An idle
  worker queues this script behind its BZPOPMIN (idle_fetch.py), so it runs long after it was
  sent: a `now` taken at sending would be stale. The offset keeps now in the worker's clock.

  Returns {jobs, nextDue, limitedForMs}; jobs = {{id, token, {field, value, ...}}, ...};
  nextDue = due time (ms) of the earliest delayed job or -1.
]]
--- @include "emit"
--- @include "pushReady"
--- @include "nextDue"
--- @include "promoteDelayed"
--- @include "queueLimits"
--- @include "groups"
--- @include "fetchJobs"
local base = ARGV[1]
local now = tonumber(ARGV[4])
if not now then
  local t = redis.call("TIME")
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) + (tonumber(ARGV[9]) or 0)
end
local maxEvents = ARGV[6]
promoteDelayed(KEYS[4], KEYS[1], KEYS[3], KEYS[9], KEYS[6], KEYS[7], base, now, maxEvents)
if redis.call("HEXISTS", KEYS[5], "paused") == 1 then
  return {{}, nextDue(KEYS[4]), 0}
end
local jobs, limited = fetchJobs(KEYS[1], KEYS[2], KEYS[3], KEYS[7], KEYS[8], KEYS[6], base, ARGV[2],
  tonumber(ARGV[3]), now, tonumber(ARGV[5]), maxEvents, tonumber(ARGV[7]), tonumber(ARGV[8]), KEYS[5],
  tonumber(ARGV[10]) or 0, tonumber(ARGV[11]) or 0, tonumber(ARGV[12]) or 0)
return {jobs, nextDue(KEYS[4]), limited}
