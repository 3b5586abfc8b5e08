-- nextDue: the due time (ms) of the earliest delayed job, or -1 when none.
local function nextDue(delayedKey)
  local first = redis.call("ZRANGE", delayedKey, 0, 0, "WITHSCORES")
  if #first == 0 then return -1 end
  return tonumber(first[2])
end
