-- removeJobKeys: delete a job's hash, logs and lock.
local function removeJobKeys(base, jobId)
  redis.call("DEL", base .. jobId, base .. jobId .. ":logs", base .. jobId .. ":lock")
end
