-- Revoke every live session of a user, optionally keeping the one whose rand and token hash
-- both match (the caller's current session, e.g. on a password change), and report each.
-- KEYS (RevokeAllKeys in calls.py): the user record, the user's audit stream, with a standalone
--   server the event stream and the global audit stream (see events_to and audit_to).
--   Last, with a standalone server, the stats hash (live sessions, sign-ins per minute:
--   see tally in _lib.lua).
-- ARGV (RevokeAllArgs): now '' = server time; keep_rand '' = keep none; reason '' = none.
-- Returns {number of sessions revoked, events{}, audit{}}: one session_revoked event and one
-- audit entry per session.

local K = named(KEYS, 'record', 'user_audit', 'events', 'audit', 'stats')
local A = named(ARGV, 'base', 'now', 'tombstone_ms', 'tombstone_reason', 'keep_rand',
  'keep_hash', 'user_id', 'actor', 'reason', 'stream_maxlen', 'audit_ttl_ms')
local base = A.base
local now = now_ms(A.now)
local tomb_ms = tonumber(A.tombstone_ms)
if K.events then events_to(K.events, A.stream_maxlen, K.stats) end
audit_to(K.user_audit, A.audit_ttl_ms, K.audit)
local tag = tag_of(K.record)
local _, indexed = read_user(K.record)
local revoked, expired, kept = {}, {}, 0
for _, entry in ipairs(indexed) do
  local m = entry[1]
  local key = base .. 's:' .. m
  local live, r = alive(key, now)
  if not live then
    redis.call('HDEL', K.record, 's:' .. m)
    expired[#expired + 1] = m
  elseif m == A.keep_rand and r and r.h == A.keep_hash then
    kept = 1
  else
    bury(base .. 'x:' .. m, r, now, A.tombstone_reason, tomb_ms)
    redis.call('DEL', key)
    redis.call('HDEL', K.record, 's:' .. m)
    revoked[#revoked + 1] = m
  end
end
for _, m in ipairs(expired) do emit('session_expired', A.user_id, tag .. m, now, EXPIRED) end
local details = cjson.encode({actor = A.actor, reason = A.reason ~= '' and A.reason or cjson.null,
  all = true, kept_current = kept == 1})
for _, m in ipairs(revoked) do
  emit('session_revoked', A.user_id, tag .. m, now, details)
  audit('session_revoked', A.user_id, tag .. m, now, A.actor, A.reason, details)
end
return {#revoked, EVENTS.out, AUDIT.out}
