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
local kept = 0
local revoked, expired = end_sessions(K.record, base, indexed, now, A.tombstone_reason, tomb_ms,
  function(m, r)
    if m == A.keep_rand and r and r.h == A.keep_hash then
      kept = 1
      return false
    end
    return true
  end)
local details = cjson.encode({actor = A.actor, reason = A.reason ~= '' and A.reason or cjson.null,
  all = true, kept_current = kept == 1})
report_ended(A.user_id, tag, revoked, expired, now, details, A.actor, A.reason)
return {#revoked, EVENTS.out, AUDIT.out}
