-- incrField: HINCRBY key field 1, for a counter of a job hash that may have been edited by hand: a value
-- that is not an integer is restarted at 1 instead of failing the script halfway (after earlier writes).
local function incrField(key, field)
  local value = redis.pcall("HINCRBY", key, field, 1)
  if type(value) == "table" then
    redis.call("HSET", key, field, 1)
    return 1
  end
  return value
end
