-- Append a detection finding (an alert) to the event stream and, once a daemon has created
-- the alert stream (with its consumer group), to the alert stream too, atomically.
-- The event stream is capped (MAXLEN ~ stream_maxlen) for the console and the CLI; the alert
-- stream is never capped here: only the daemon trims it, and never past an entry its consumer
-- group has not acknowledged (trim_alerts.lua). So no flood of events can trim an undelivered
-- alert. Without a daemon the alert stream does not exist and nothing accumulates.
-- The alert stream's key carries the event stream's name as its hash tag, so both are in one
-- Cluster slot and this script runs there too.
-- With a standalone server, for an alert (severity low or more) the caller also passes the
-- user's own alert list and the stats hash: the entry, with its event id, is pushed on the
-- list (newest first, capped, expiring with the user's history) and counted in the per-minute
-- totals, all in this one script. On a Cluster those keys are in other slots: the caller
-- pushes the entry (without its id) and counts it right after.
-- KEYS (FindingKeys in calls.py): the event stream, the alert stream, [the user's alert list,
--   the stats hash].
-- ARGV (FindingArgs): the stream cap, the entry's fields (as codec.event_fields), then how many
--   entries the user's list keeps and its lifetime (ms), and deliver '1' | '0': whether the
--   finding goes to the alert stream (it opens or escalates its incident, see incidents.py;
--   a finding that only joins an open incident is an event, not another alert).
-- Returns the event's id in the event stream.

local K = named(KEYS, 'events', 'alerts', 'user_alerts', 'stats')
local A = named(ARGV, 'stream_maxlen', 'type', 'user', 'sid', 'sev', 'at', 'd',
  'user_alerts_kept', 'user_alerts_ttl_ms', 'deliver')
local fields = {'type', A.type, 'user', A.user, 'sid', A.sid, 'sev', A.sev, 'at', A.at,
  'd', A.d}
local id = redis.call('XADD', K.events, 'MAXLEN', '~', A.stream_maxlen, '*', unpack(fields))
if A.deliver == '1' and redis.call('EXISTS', K.alerts) == 1 then
  redis.call('XADD', K.alerts, '*', 'eid', id, unpack(fields))
end
if K.user_alerts then
  redis.call('LPUSH', K.user_alerts, cjson.encode({id, A.type, A.user, A.sid, A.sev, A.at,
    A.d}))
  redis.call('LTRIM', K.user_alerts, 0, tonumber(A.user_alerts_kept) - 1)
  redis.call('PEXPIRE', K.user_alerts, A.user_alerts_ttl_ms)
end
if K.stats then tally(K.stats, tonumber(A.at), 0, 0, 1) end
return id
