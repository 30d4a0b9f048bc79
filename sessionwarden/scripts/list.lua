-- A user's live sessions, most recently active first, with their device descriptions, in one
-- round trip; sessions found dead (by their own records) are pruned and reported as expired.
-- KEYS (ListKeys in calls.py): the user record, with a standalone server the event stream.
--   Last, with a standalone server, the stats hash (live sessions, sign-ins per minute:
--   see tally in _lib.lua).
-- ARGV (ListArgs): now '' = server time.
-- Returns {now, sessions{rand, record, ...}, devices{fingerprint, description, ...}, events{}};
-- a record that does not parse comes back as it is ('' when not a string) for the caller to
-- report.

local K = named(KEYS, 'record', 'events', 'stats')
local A = named(ARGV, 'base', 'now', 'user_id', 'stream_maxlen')
local base = A.base
local now = now_ms(A.now)
if K.events then events_to(K.events, A.stream_maxlen, K.stats) end
local rec, indexed = read_user(K.record)
local sessions, devices, seen = {}, {}, {}
for i = #indexed, 1, -1 do
  local m = indexed[i][1]
  local live, r, _, _, v = alive(base .. 's:' .. m, now)
  if live then
    sessions[#sessions + 1] = m
    sessions[#sessions + 1] = v
    if r and not seen[r[9]] then
      seen[r[9]] = true
      devices[#devices + 1] = r[9]
      devices[#devices + 1] = rec['n:' .. r[9]] or ''
    end
  else
    redis.call('HDEL', K.record, 's:' .. m)
    emit('session_expired', A.user_id, tag_of(K.record) .. m, now, EXPIRED)
  end
end
return {now, sessions, devices, EVENTS.out}
