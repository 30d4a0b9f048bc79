-- Sweep one user of the expiry index (the daemon's job): prune every dead member of the user's
-- session index, reporting each exactly once (whoever removes a member reports it), and return
-- the earliest expiry of the sessions still live, the user's new score in the index.
-- KEYS: 1 session index, 2 user record
-- ARGV: 1 key base, 2 now ('' = server time), 3 idle ms
-- Returns {now, user id, expired{}, next expiry ms or -1 when no session is live}

local base = ARGV[1]
local now = now_ms(ARGV[2])
local idle = tonumber(ARGV[3])
local expired, next_expiry = {}, -1
for _, m in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  local key = base .. 's:' .. m
  local live, _, a, e = alive(key, now, idle)
  if live then
    local expiry = (a and e) and math.min(a + idle, e) or now + idle
    if next_expiry < 0 or expiry < next_expiry then next_expiry = expiry end
  else
    redis.call('ZREM', KEYS[1], m)
    expired[#expired + 1] = m
  end
end
return {now, redis.call('HGET', KEYS[2], 'id') or '', expired, next_expiry}
