-- Revoke one session: delete it, drop it from the index, leave a tombstone, report it.
-- KEYS (RevokeKeys in calls.py): the session, the user record (its 's:<rand>' field is the
--   index entry), the tombstone, the user's audit stream, with a standalone server the event
--   stream and the global audit stream (see events_to and audit_to).
--   Last, with a standalone server, the stats hash (live sessions, sign-ins per minute:
--   see tally in _lib.lua).
-- ARGV (RevokeArgs): now '' = server time; reason '' = none; audit_ttl_ms: the user's audit
--   stream's lifetime, renewed at each entry.
-- Returns {1, events{}, audit{}} when a live session was revoked, {-1, events{}, audit{}} when
-- it had already expired (its index entry is pruned and the expiry reported here),
-- {0, events{}, audit{}} when there was no such session. Liveness is the record's own (its
-- idle window and deadline).

local K = named(KEYS, 'session', 'record', 'tombstone', 'user_audit', 'events', 'audit',
  'stats')
local A = named(ARGV, 'rand', 'now', 'tombstone_ms', 'tombstone_reason', 'user_id', 'actor',
  'reason', 'stream_maxlen', 'audit_ttl_ms')
local rand = A.rand
local now = now_ms(A.now)
if K.events then events_to(K.events, A.stream_maxlen, K.stats) end
audit_to(K.user_audit, A.audit_ttl_ms, K.audit)
local sid = tag_of(K.session) .. rand
local live, r = alive(K.session, now)
if not live then
  if redis.call('HDEL', K.record, 's:' .. rand) == 1 then
    emit('session_expired', A.user_id, sid, now, EXPIRED)
    return {-1, EVENTS.out, AUDIT.out}
  end
  return {0, EVENTS.out, AUDIT.out}
end
bury(K.tombstone, r, now, A.tombstone_reason, tonumber(A.tombstone_ms), true)
redis.call('DEL', K.session)
redis.call('HDEL', K.record, 's:' .. rand)
local details = cjson.encode({actor = A.actor, reason = A.reason ~= '' and A.reason or cjson.null,
  ip = r and r[5] or '', fingerprint = r and r[9] or ''})
emit('session_revoked', A.user_id, sid, now, details)
audit('session_revoked', A.user_id, sid, now, A.actor, A.reason, details)
return {1, EVENTS.out, AUDIT.out}
