--[[
  heartbeat: a worker says it is alive (or, with ttl 0, that it is leaving); workers whose heartbeat
  lapsed are dropped on the way. Times are the server's (TIME), so workers on machines with skewed clocks
  agree on who is alive.

  KEYS[1] workers (zset: worker id -> when its heartbeat lapses, ms), KEYS[2] workers:info (hash: id -> JSON)

  ARGV[1] worker id, ARGV[2] info (JSON object), ARGV[3] ttl (ms; 0 = remove this worker)

  Returns the server time (ms).
]]
local t = redis.call("TIME")
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[3])
if ttl > 0 then
  redis.call("ZADD", KEYS[1], now + ttl, ARGV[1])
  redis.call("HSET", KEYS[2], ARGV[1], ARGV[2])
else
  redis.call("ZREM", KEYS[1], ARGV[1])
  redis.call("HDEL", KEYS[2], ARGV[1])
end
local gone = redis.call("ZRANGEBYSCORE", KEYS[1], "-inf", now, "LIMIT", 0, 100)
if #gone > 0 then
  redis.call("ZREM", KEYS[1], unpack(gone))
  redis.call("HDEL", KEYS[2], unpack(gone))
end
return now
