-- removeJobKeys: delete a job's hash, logs and lock, and its flow bookkeeping as a parent (see flowParent).
local function removeJobKeys(base, jobId)
  local jobKey = base .. jobId
  redis.call("DEL", jobKey, jobKey .. ":logs", jobKey .. ":lock", jobKey .. ":dependencies",
    jobKey .. ":processed", jobKey .. ":failed", jobKey .. ":unsuccessful")
end
