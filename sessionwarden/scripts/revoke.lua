-- Revoke one session: delete it, drop it from the index, leave a tombstone, report it.
-- KEYS (RevokeKeys in calls.py): the session, the user record (its 's:<rand>' field is the
--   index entry), the tombstone, with a standalone server the event stream (see events_to).
-- ARGV (RevokeArgs): now '' = server time; reason '' = none.
-- Returns {1, events{}} when a live session was revoked, {-1, events{}} when it had already
-- expired (its index entry is pruned and the expiry reported here), {0, events{}} when there
-- was no such session. Liveness is the record's own (its idle window and deadline).

local K = named(KEYS, 'session', 'record', 'tombstone', 'events')
local A = named(ARGV, 'rand', 'now', 'tombstone_ms', 'tombstone_reason', 'user_id', 'actor',
  'reason', 'stream_maxlen')
local rand = A.rand
local now = now_ms(A.now)
if K.events then events_to(K.events, A.stream_maxlen) end
local sid = tag_of(K.session) .. rand
local live, r = alive(K.session, now)
if not live then
  if redis.call('HDEL', K.record, 's:' .. rand) == 1 then
    emit('session_expired', A.user_id, sid, now, EXPIRED)
    return {-1, EVENTS.out}
  end
  return {0, EVENTS.out}
end
bury(K.tombstone, r, now, A.tombstone_reason, tonumber(A.tombstone_ms))
redis.call('DEL', K.session)
redis.call('HDEL', K.record, 's:' .. rand)
emit('session_revoked', A.user_id, sid, now, cjson.encode({
  actor = A.actor, reason = A.reason ~= '' and A.reason or cjson.null,
  ip = r and r[5] or '', fingerprint = r and r[9] or ''}))
return {1, EVENTS.out}
