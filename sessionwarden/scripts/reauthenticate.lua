-- Re-authenticate: record a fresh proof of identity on a live session, in one round trip.
-- The proof's time and strength replace the record's (fields 14 and 15: the latest proof is
-- what step-up judges, so a weaker proof now is not held as the stronger one before); it
-- counts as activity (the idle timer restarts, the index entry moves); and, when the session's
-- policy says so (fields 16 and 17), the deadline moves to at least now + the extension, never
-- past creation + the bound. The deadline never moves earlier.
--
-- KEYS (ReauthenticateKeys in calls.py): the session, the user record (its 's:<rand>' field is
--   the index entry), with a standalone server the event stream and the stats hash (events_to).
-- ARGV (ReauthenticateArgs): now '' = server time; assurance: the rank digit of the proof
--   ('' = password); details: the event's details (JSON).
-- Returns {'ok', now, record as it now stands, events{}}, or the reply of presented_session
--   (_lib.lua): {'none' | 'expired', now, events{}}; nothing is recorded then.

local K = named(KEYS, 'session', 'record', 'events', 'stats')
local A = named(ARGV, 'rand', 'token_hash', 'now', 'assurance', 'details', 'stream_maxlen')
local now = now_ms(A.now)
if K.events then events_to(K.events, A.stream_maxlen, K.stats) end
local r, t = presented_session(K.session, K.record, A.rand, A.token_hash, now)
if not r then return t end

local deadline = t.deadline
local extension, bound = from_b36(r[16]), from_b36(r[17])
if extension and bound then
  deadline = math.max(deadline, math.min(now + extension, t.created + bound))
end
r[2], r[3], r[14], r[15] = b36(now), b36(deadline), b36(now), A.assurance
local v = write_session(r)
redis.call('SET', K.session, v, 'PX', math.min(now + t.idle, deadline) - now)
redis.call('HSET', K.record, 's:' .. A.rand, int(now))
if redis.call('PTTL', K.record) < deadline - now then
  -- the user record holds the index: it must outlive the extended session
  redis.call('PEXPIRE', K.record, deadline - now)
end
emit('reauthenticated', r[12], tag_of(K.session) .. A.rand, now, A.details)
return {'ok', now, v, EVENTS.out}
