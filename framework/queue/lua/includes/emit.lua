-- emit(eventsKey, maxEvents, eventName, field, value, ...): append one event to the queue's capped stream.
-- The cap (MAXLEN ~) is applied by a call's first event to each stream only: trimming costs about a third
-- of an XADD, and the events of one call (a few per job of a batch) may go over the cap until the next
-- call trims them.
local emitTrimmed = {}
local function emit(eventsKey, maxEvents, ...)
  if emitTrimmed[eventsKey] then
    redis.call("XADD", eventsKey, "*", "event", ...)
  else
    redis.call("XADD", eventsKey, "MAXLEN", "~", maxEvents, "*", "event", ...)
    emitTrimmed[eventsKey] = true
  end
end
