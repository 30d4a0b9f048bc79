-- The background clean-up after revoke_everyone.lua, one user at a time: end (tombstone,
-- unindex, report) every session of the user created at or before the not-before epoch, and
-- prune members already dead. Sessions created after the epoch, and corrupt records, stay.
-- KEYS (PurgeEveryoneKeys in calls.py): the user record; with a standalone server the event
--   stream and the stats hash.
-- ARGV (PurgeEveryoneArgs): now '' = server time; not_before: the epoch (ms); details: the
--   JSON details of each session_revoked event.
-- Returns {sessions ended, events{}}.

local K = named(KEYS, 'record', 'events', 'stats')
local A = named(ARGV, 'base', 'now', 'not_before', 'tombstone_ms', 'stream_maxlen', 'details')
local now = now_ms(A.now)
local epoch = tonumber(A.not_before)
if K.events then events_to(K.events, A.stream_maxlen, K.stats) end
local rec, indexed = read_user(K.record)
local ended, expired = end_sessions(K.record, A.base, indexed, now, 'everyone',
  tonumber(A.tombstone_ms), function(_, r)
    local created = r and from_b36(r[1])
    return created ~= nil and created <= epoch
  end)
report_ended(rec.id or '', tag_of(K.record), ended, expired, now, A.details, nil, nil)
return {#ended, EVENTS.out}
