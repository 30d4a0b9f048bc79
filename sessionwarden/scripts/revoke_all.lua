-- Revoke every live session of a user, optionally keeping the one whose rand and token hash
-- both match (the caller's current session, e.g. on a password change), and report each.
-- KEYS: 1 user record, with a standalone server 2 event stream (see events_to in _lib.lua)
-- ARGV: 1 key base, 2 now ('' = server time), 3 idle ms, 4 tombstone ms, 5 tombstone reason,
--       6 rand to keep ('' = none), 7 token hash of the kept session, 8 user id, 9 actor,
--       10 reason for the events ('' = none), 11 event stream MAXLEN
-- Returns {number of sessions revoked, events{}}.

local base = ARGV[1]
local now = now_ms(ARGV[2])
local idle, tomb_ms = tonumber(ARGV[3]), tonumber(ARGV[4])
if KEYS[2] then events_to(KEYS[2], ARGV[11]) end
local tag = tag_of(KEYS[1])
local _, indexed = read_user(KEYS[1])
local revoked, expired, kept = {}, {}, 0
for _, entry in ipairs(indexed) do
  local m = entry[1]
  local key = base .. 's:' .. m
  local live, r = alive(key, now, idle)
  if not live then
    redis.call('HDEL', KEYS[1], 's:' .. m)
    expired[#expired + 1] = m
  elseif m == ARGV[6] and r and r.h == ARGV[7] then
    kept = 1
  else
    bury(base .. 'x:' .. m, r, now, ARGV[5], tomb_ms)
    redis.call('DEL', key)
    redis.call('HDEL', KEYS[1], 's:' .. m)
    revoked[#revoked + 1] = m
  end
end
for _, m in ipairs(expired) do emit('session_expired', ARGV[8], tag .. m, now, EXPIRED) end
local details = cjson.encode({actor = ARGV[9], reason = ARGV[10] ~= '' and ARGV[10] or cjson.null,
  all = true, kept_current = kept == 1})
for _, m in ipairs(revoked) do emit('session_revoked', ARGV[8], tag .. m, now, details) end
return {#revoked, EVENTS.out}
