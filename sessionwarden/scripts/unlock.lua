-- Unlock an account locked by lock.lua: sign-ins are accepted again, and the user record
-- expires with the user's history again. Nothing else changes (the ended sessions stay ended).
-- KEYS (UnlockKeys in calls.py): the user record, the user's audit list; with a standalone
--   server also the event stream, the global audit stream and the locked-users index.
-- ARGV (UnlockArgs): now '' = server time; history_ms: the user record's lifetime; details: the
--   JSON details of the event and audit entry.
-- Returns {1 when the user was locked (and is now unlocked), 0 when not locked, events{},
--          audit{}}; nothing is written when the user was not locked.

local K = named(KEYS, 'record', 'user_audit', 'events', 'audit', 'locked')
local A = named(ARGV, 'now', 'user_id', 'actor', 'reason', 'stream_maxlen', 'audit_ttl_ms',
  'history_ms', 'details')
local now = now_ms(A.now)
if K.events then events_to(K.events, A.stream_maxlen, nil) end
audit_to(K.user_audit, A.audit_ttl_ms, K.audit)
if redis.call('HDEL', K.record, 'lk') == 0 then
  return {0, EVENTS.out, AUDIT.out}
end
redis.call('PEXPIRE', K.record, A.history_ms)
emit('account_unlocked', A.user_id, '', now, A.details)
audit('account_unlocked', A.user_id, '', now, A.actor, A.reason, A.details)
if K.locked then redis.call('ZREM', K.locked, A.user_id) end
return {1, EVENTS.out, AUDIT.out}
