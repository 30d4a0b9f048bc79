-- Revoke one session: delete it, drop it from the index, leave a tombstone.
-- KEYS: 1 session, 2 user record (its 's:<rand>' field is the index entry), 3 tombstone
-- ARGV: 1 rand, 2 now ('' = server time), 3 tombstone ms, 4 reason, 5 idle ms
-- Returns {1, now, ip, fingerprint} when a live session was revoked, {-1, now} when it had
-- already expired (its index entry is pruned here), {0, now} when there was no such session.

local rand = ARGV[1]
local now = now_ms(ARGV[2])
local live, r = alive(KEYS[1], now, tonumber(ARGV[5]))
if not live then
  if redis.call('HDEL', KEYS[2], 's:' .. rand) == 1 then return {-1, now} end
  return {0, now}
end
bury(KEYS[3], r, now, ARGV[4], tonumber(ARGV[3]))
redis.call('DEL', KEYS[1])
redis.call('HDEL', KEYS[2], 's:' .. rand)
return {1, now, r and r[4] or '', r and r[8] or ''}
