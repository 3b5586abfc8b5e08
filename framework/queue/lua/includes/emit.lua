-- emit(eventsKey, maxEvents, eventName, field, value, ...): append one event to the queue's capped stream.
-- The cap (MAXLEN ~) is applied by a call's first event to each stream, then by every 50th: trimming costs
-- about a third of an XADD, so not every event pays it, yet one call adding thousands of events (add_bulk)
-- still leaves the stream within ~50 events (plus MAXLEN ~'s node slack) of its cap.
local emitSinceTrim = {}
local function emit(eventsKey, maxEvents, ...)
  local since = emitSinceTrim[eventsKey]
  if since and since < 50 then
    redis.call("XADD", eventsKey, "*", "event", ...)
    emitSinceTrim[eventsKey] = since + 1
  else
    redis.call("XADD", eventsKey, "MAXLEN", "~", maxEvents, "*", "event", ...)
    emitSinceTrim[eventsKey] = 1
  end
end
