-- Lock an account: end every session of the user (each tombstoned, reported and audited like a
-- revocation) and mark the user record locked ('lk' = lock ms), so create refuses new sessions
-- (and validate ends any session it still finds) until unlock.lua. A locked record does not
-- expire (PERSIST): a lock must not lapse with the user's history.
-- KEYS (LockKeys in calls.py): the user record, the user's audit list; with a standalone
--   server also the event stream, the global audit stream, the stats hash, the user directory
--   and the locked-users index (written here; on a Cluster the caller writes the last two).
-- ARGV (LockArgs): now '' = server time; actor and reason as for revoke_all; details: the
--   JSON details of the lock's event and audit entry.
-- Returns {sessions ended, 1 when already locked else 0, lock ms, events{}, audit{}}.

local K = named(KEYS, 'record', 'user_audit', 'events', 'audit', 'stats', 'directory',
  'locked')
local A = named(ARGV, 'base', 'now', 'tombstone_ms', 'user_id', 'actor', 'reason',
  'stream_maxlen', 'audit_ttl_ms', 'details')
local now = now_ms(A.now)
if K.events then events_to(K.events, A.stream_maxlen, K.stats) end
audit_to(K.user_audit, A.audit_ttl_ms, K.audit)
local rec, indexed = read_user(K.record)
if rec.id and rec.id ~= A.user_id then
  return redis.error_reply('SWCOLLISION two user ids share a key tag')
end
local ended, expired = end_sessions(K.record, A.base, indexed, now, 'locked',
  tonumber(A.tombstone_ms), function() return true end)
local details = cjson.encode({actor = A.actor, reason = A.reason ~= '' and A.reason or cjson.null,
  all = true, locked = true})
report_ended(A.user_id, tag_of(K.record), ended, expired, now, details, A.actor, A.reason)
local already = rec.lk and 1 or 0
local since = tonumber(rec.lk) or now
redis.call('HSET', K.record, 'id', A.user_id, 'lk', int(since))
redis.call('PERSIST', K.record)
emit('account_locked', A.user_id, '', now, A.details)
audit('account_locked', A.user_id, '', now, A.actor, A.reason, A.details)
if K.locked then
  redis.call('ZADD', K.directory, 0, A.user_id)
  redis.call('ZADD', K.locked, int(since), A.user_id)
end
return {#ended, already, since, EVENTS.out, AUDIT.out}
