-- Append a detection finding (an alert) to the event stream, joined to its user's incident,
-- and, when that incident opens or escalates, to the alert stream too, atomically.
-- The event stream is capped (MAXLEN ~ stream_maxlen) for the console and the CLI; the alert
-- stream is never capped here: only the daemon trims it, and never past an entry its consumer
-- group has not acknowledged (trim_alerts.lua). So no flood of events can trim an undelivered
-- alert. Without a daemon the alert stream does not exist and nothing accumulates.
-- The alert stream's key and the user's incident key carry the event stream's name as their
-- hash tag, so all three are in one Cluster slot and this script runs there too.
--
-- One incident, one alert (see incidents.py): the user's open incident is one short key,
-- "<id>|<opened s>|<last s>|<severity rank>". A finding within window_s of the incident's last
-- finding joins it (and keeps it open); otherwise it opens a new one with the caller's fresh
-- id. The finding is delivered (put on the alert stream) when it opens the incident or raises
-- its severity. Decided here, where the alert is written, so two concurrent requests of one
-- user cannot both open an incident: Redis runs one finding script at a time. The key expires
-- a window after its last finding (joining is judged by its fields and the finding's time,
-- so a caller's clock works too; the expiry only bounds memory).
-- The event's details get "incident" (the id) and "notify" (delivered); "why" (one sentence
-- per signal) only on a delivered one: the caller passes the details without it, and it as a
-- JSON member ('"why":[...]', '' = none) to splice in.
--
-- With a standalone server, for an alert (severity low or more) the caller also passes the
-- user's own alert list and the stats hash: the entry, with its event id, is pushed on the
-- list (newest first, capped, expiring with the user's history) and counted in the per-minute
-- totals, all in this one script. On a Cluster those keys are in other slots: the caller
-- pushes the entry (without its id and incident) and counts it right after.
-- KEYS (FindingKeys in calls.py): the event stream, the alert stream, the user's incident,
--   [the user's alert list, the stats hash].
-- ARGV (FindingArgs): the stream cap, the entry's fields (as codec.event_fields, the details
--   without "why"), how many entries the user's list keeps and its lifetime (ms), the "why"
--   member, the finding's severity rank (settings.SEVERITIES), the incident window (s) and the
--   id of the incident this finding opens if it opens one.
-- Returns {the event's id in the event stream, the incident id, delivered (1|0)}.

local K = named(KEYS, 'events', 'alerts', 'incident', 'user_alerts', 'stats')
local A = named(ARGV, 'stream_maxlen', 'type', 'user', 'sid', 'sev', 'at', 'd',
  'user_alerts_kept', 'user_alerts_ttl_ms', 'why', 'rank', 'window_s', 'new_id')
local at_s, window, rank = math.floor(tonumber(A.at) / 1000), tonumber(A.window_s),
  tonumber(A.rank)
local id, opened, last, top = string.match(redis.call('GET', K.incident) or '',
  '^(%w+)|(%d+)|(%d+)|(%d+)$')
local deliver = false
if not id or at_s - tonumber(last) > window then
  id, opened, last, top, deliver = A.new_id, at_s, at_s, rank, true
else
  last, top = math.max(at_s, tonumber(last)), tonumber(top)
  if rank > top then top, deliver = rank, true end
end
redis.call('SET', K.incident, id .. '|' .. int(tonumber(opened)) .. '|' .. int(last) .. '|'
  .. int(top), 'PX', int((window + 1) * 1000))

local added = {}
if deliver and A.why ~= '' then added[#added + 1] = A.why end
added[#added + 1] = '"incident":' .. cjson.encode(id)
added[#added + 1] = '"notify":' .. (deliver and 'true' or 'false')
local body = string.sub(A.d, 1, -2)  -- the details' JSON object without its closing brace
local d = body .. (body ~= '{' and ',' or '') .. table.concat(added, ',') .. '}'

local fields = {'type', A.type, 'user', A.user, 'sid', A.sid, 'sev', A.sev, 'at', A.at,
  'd', d}
local eid = redis.call('XADD', K.events, 'MAXLEN', '~', A.stream_maxlen, '*', unpack(fields))
if deliver and redis.call('EXISTS', K.alerts) == 1 then
  redis.call('XADD', K.alerts, '*', 'eid', eid, unpack(fields))
end
if K.user_alerts then
  redis.call('LPUSH', K.user_alerts, cjson.encode({eid, A.type, A.user, A.sid, A.sev, A.at,
    d}))
  redis.call('LTRIM', K.user_alerts, 0, tonumber(A.user_alerts_kept) - 1)
  redis.call('PEXPIRE', K.user_alerts, A.user_alerts_ttl_ms)
end
if K.stats then tally(K.stats, tonumber(A.at), 0, 0, 1) end
return {eid, id, deliver and 1 or 0}
