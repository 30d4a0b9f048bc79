-- Check one entry of the expiry index (the daemon's sweep): a live session reports its real
-- expiry so the index score can move up; a dead one is pruned from its user's index exactly
-- once (whoever removes the index member reports the expiry, so no event is doubled).
-- KEYS: 1 session, 2 session index, 3 tombstone, 4 user record
-- ARGV: 1 rand, 2 now ('' = server time), 3 idle ms
-- Returns {'alive', now, expiry} | {'expired', now, user id} | {'gone', now}

local rand = ARGV[1]
local now = now_ms(ARGV[2])
local idle = tonumber(ARGV[3])
if alive(KEYS[1], now, idle) then
  local f = redis.call('HMGET', KEYS[1], 'a', 'e')
  local a, e = tonumber(f[1]), tonumber(f[2])
  if not a or not e then return {'alive', now, now + idle} end
  return {'alive', now, math.min(a + idle, e)}
end
if redis.call('ZREM', KEYS[2], rand) == 1 and redis.call('EXISTS', KEYS[3]) == 0 then
  return {'expired', now, redis.call('HGET', KEYS[4], 'id') or ''}
end
return {'gone', now}
