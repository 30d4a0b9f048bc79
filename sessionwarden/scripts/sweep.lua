-- Sweep one user of the expiry index (the daemon's job): prune every dead session of the user's
-- index, reporting each exactly once (whoever removes an index entry reports it), and return
-- the earliest expiry of the sessions still live, the user's new score in the expiry index.
-- Liveness is each record's own (its idle window and deadline), never the sweeper's settings.
-- KEYS (SweepKeys in calls.py): the user record, with a standalone server the event stream.
--   Last, with a standalone server, the stats hash (live sessions, sign-ins per minute:
--   see tally in _lib.lua).
-- ARGV (SweepArgs): now '' = server time.
-- Returns {number of sessions expired, next expiry ms or -1 when no session is live, events{}}

local K = named(KEYS, 'record', 'events', 'stats')
local A = named(ARGV, 'base', 'now', 'stream_maxlen')
local now = now_ms(A.now)
if K.events then events_to(K.events, A.stream_maxlen, K.stats) end
local rec, indexed = read_user(K.record)
local expired, next_expiry = {}, -1
for _, m in ipairs(indexed) do
  local live, _, _, expiry = alive(A.base .. 's:' .. m[1], now)
  if live then
    -- a corrupt record has no expiry of its own: look again in a minute
    expiry = expiry or now + 60000
    if next_expiry < 0 or expiry < next_expiry then next_expiry = expiry end
  else
    redis.call('HDEL', K.record, 's:' .. m[1])
    expired[#expired + 1] = m[1]
    emit('session_expired', rec.id or '', tag_of(K.record) .. m[1], now, EXPIRED)
  end
end
return {#expired, next_expiry, EVENTS.out}
