-- Append a detection finding (an alert) to the event stream and, once a daemon has created
-- the alert stream (with its consumer group), to the alert stream too, atomically.
-- The event stream is capped (MAXLEN ~ stream_maxlen) for the console and the CLI; the alert
-- stream is never capped here: only the daemon trims it, and never past an entry its consumer
-- group has not acknowledged (trim_alerts.lua). So no flood of events can trim an undelivered
-- alert. Without a daemon the alert stream does not exist and nothing accumulates.
-- The alert stream's key carries the event stream's name as its hash tag, so both are in one
-- Cluster slot and this script runs there too.
-- KEYS (FindingKeys in calls.py): the event stream, the alert stream.
-- ARGV (FindingArgs): the stream cap, then the entry's fields (as codec.event_fields).
-- Returns the event's id in the event stream.

local K = named(KEYS, 'events', 'alerts')
local A = named(ARGV, 'stream_maxlen', 'type', 'user', 'sid', 'sev', 'at', 'd')
local fields = {'type', A.type, 'user', A.user, 'sid', A.sid, 'sev', A.sev, 'at', A.at,
  'd', A.d}
local id = redis.call('XADD', K.events, 'MAXLEN', '~', A.stream_maxlen, '*', unpack(fields))
if redis.call('EXISTS', K.alerts) == 1 then
  redis.call('XADD', K.alerts, '*', 'eid', id, unpack(fields))
end
return id
