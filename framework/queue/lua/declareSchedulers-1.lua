--[[
  declareSchedulers: record scheduler ids as declared in code (before they are upserted), so a later
  start that no longer declares one removes it (removeDeclaredScheduler).

  KEYS[1] declared (set of the scheduler ids declared in code)
  ARGV[1..] scheduler ids

  Returns the number of ids not recorded before.
]]
return redis.call("SADD", KEYS[1], unpack(ARGV))
