-- Revoke one session: delete it, drop it from the index, leave a tombstone, report it.
-- KEYS: 1 session, 2 user record (its 's:<rand>' field is the index entry), 3 tombstone,
--       with a standalone server 4 event stream (see events_to in _lib.lua)
-- ARGV: 1 rand, 2 now ('' = server time), 3 tombstone ms, 4 tombstone reason, 5 idle ms,
--       6 user id, 7 actor, 8 reason for the event ('' = none), 9 event stream MAXLEN
-- Returns {1, events{}} when a live session was revoked, {-1, events{}} when it had already
-- expired (its index entry is pruned and the expiry reported here), {0, events{}} when there
-- was no such session.

local rand = ARGV[1]
local now = now_ms(ARGV[2])
if KEYS[4] then events_to(KEYS[4], ARGV[9]) end
local sid = tag_of(KEYS[1]) .. rand
local live, r = alive(KEYS[1], now, tonumber(ARGV[5]))
if not live then
  if redis.call('HDEL', KEYS[2], 's:' .. rand) == 1 then
    emit('session_expired', ARGV[6], sid, now, EXPIRED)
    return {-1, EVENTS.out}
  end
  return {0, EVENTS.out}
end
bury(KEYS[3], r, now, ARGV[4], tonumber(ARGV[3]))
redis.call('DEL', KEYS[1])
redis.call('HDEL', KEYS[2], 's:' .. rand)
emit('session_revoked', ARGV[6], sid, now, cjson.encode({
  actor = ARGV[7], reason = ARGV[8] ~= '' and ARGV[8] or cjson.null,
  ip = r and r[4] or '', fingerprint = r and r[8] or ''}))
return {1, EVENTS.out}
