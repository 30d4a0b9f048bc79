-- Rotate a live session's token, in one round trip: the record keeps everything (session id,
-- times, device, policy, index entry, expiry) but the token hash, which becomes the new one;
-- the old token is dead at once. Its hash goes into the session's tombstone (bury in
-- _lib.lua, reason 'rotated'), so validate reports it, presented again, as a revoked token
-- (tombstone_reply). No session is added, so the session limit never evicts anything.
--
-- KEYS (RotateKeys in calls.py): the session, the user record, the tombstone, with a
--   standalone server the event stream and the stats hash (events_to).
-- ARGV (RotateArgs): now '' = server time; token_hash: the presented token's; new_hash: the
--   new token's; tombstone_ms: how long the old hash is kept; details: the event's (JSON).
-- Returns {'ok', now, record as it now stands, events{}}, or the reply of presented_session
--   (_lib.lua): {'none' | 'expired', now, events{}}; nothing is changed then.

local K = named(KEYS, 'session', 'record', 'tombstone', 'events', 'stats')
local A = named(ARGV, 'rand', 'token_hash', 'new_hash', 'now', 'tombstone_ms', 'details',
  'stream_maxlen')
local now = now_ms(A.now)
if K.events then events_to(K.events, A.stream_maxlen, K.stats) end
local r, t = presented_session(K.session, K.record, A.rand, A.token_hash, now)
if not r then return t end

bury(K.tombstone, r, now, 'rotated', tonumber(A.tombstone_ms), true)
r.h = A.new_hash
local v = write_session(r)
redis.call('SET', K.session, v, 'KEEPTTL')
emit('session_rotated', r[12], tag_of(K.session) .. A.rand, now, A.details)
return {'ok', now, v, EVENTS.out}
