-- A user's live sessions, most recently active first, with their device descriptions, in one
-- round trip; sessions found dead are pruned and returned so the caller can report the expiry.
-- KEYS: 1 user record, with a standalone server 2 event stream (see events_to in _lib.lua)
-- ARGV: 1 key base, 2 now ('' = server time), 3 idle ms, 4 user id, 5 event stream MAXLEN
-- Returns {now, sessions{rand, record, ...}, devices{fingerprint, description, ...}, events{}}
-- (expired sessions are pruned and reported as events); a record that does not parse comes
-- back as it is ('' when not a string) for the caller to report.

local base = ARGV[1]
local now = now_ms(ARGV[2])
local idle = tonumber(ARGV[3])
if KEYS[2] then events_to(KEYS[2], ARGV[5]) end
local rec, indexed = read_user(KEYS[1])
local sessions, devices, seen = {}, {}, {}
for i = #indexed, 1, -1 do
  local m = indexed[i][1]
  local key = base .. 's:' .. m
  local live, r, _, _, v = alive(key, now, idle)
  if live then
    sessions[#sessions + 1] = m
    sessions[#sessions + 1] = v
    if r and not seen[r[8]] then
      seen[r[8]] = true
      devices[#devices + 1] = r[8]
      devices[#devices + 1] = rec['n:' .. r[8]] or ''
    end
  else
    redis.call('HDEL', KEYS[1], 's:' .. m)
    emit('session_expired', ARGV[4], tag_of(KEYS[1]) .. m, now, EXPIRED)
  end
end
return {now, sessions, devices, EVENTS.out}
