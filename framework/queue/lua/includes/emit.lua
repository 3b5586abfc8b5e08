-- emit(eventsKey, maxEvents, eventName, field, value, ...): append one event to the queue's capped stream.
local function emit(eventsKey, maxEvents, ...)
  redis.call("XADD", eventsKey, "MAXLEN", "~", maxEvents, "*", "event", ...)
end
