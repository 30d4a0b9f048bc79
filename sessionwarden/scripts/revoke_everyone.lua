-- Sign out everyone (breach response): move the global not-before epoch to now. Every session
-- created at or before it is dead for validate (which learns the epoch within its refresh
-- interval: see core/controls.py) and is ended in the background by purge_everyone.lua.
-- The epoch only moves forward; the key never expires (one small string).
-- KEYS (RevokeEveryoneKeys in calls.py): the not-before key; with a standalone server also the
--   event stream and the global audit stream (written here, atomically with the epoch).
-- ARGV (RevokeEveryoneArgs): now '' = server time; details: JSON of the event / audit entry.
-- Returns {epoch ms, events{}, audit{}}.

local K = named(KEYS, 'not_before', 'events', 'audit')
local A = named(ARGV, 'now', 'actor', 'reason', 'stream_maxlen', 'details')
local now = now_ms(A.now)
if K.events then events_to(K.events, A.stream_maxlen, nil) end
audit_to(nil, nil, K.audit)
local epoch = math.max(now, tonumber(redis.call('GET', K.not_before) or '0') or 0)
redis.call('SET', K.not_before, int(epoch))
emit('everyone_revoked', '', '', now, A.details)
audit('everyone_revoked', '', '', now, A.actor, A.reason, A.details)
return {epoch, EVENTS.out, AUDIT.out}
