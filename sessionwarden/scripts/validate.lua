-- Validate a token and touch its session, in one round trip.
-- The session's own key holds its expiry; a touch (at most once per touch interval) moves it to
-- min(now + idle, absolute deadline), so activity never outlives the absolute lifetime.
--
-- KEYS: 1 session, 2 session index, 3 user record, 4 tombstone
-- ARGV: 1 rand, 2 token hash, 3 now ('' = server time), 4 idle ms, 5 touch ms,
--       6 class key of the presenting user agent ('' = not given),
--       7 device mismatch rule ('off' | 'alert' | 'bind': alert and revoke), 8 tombstone ms
-- Returns {status, now, user id, created, last active, deadline, ip, country, network, city,
--          fingerprint} with status 'ok' | 'mismatch' (first use from another kind of device)
--          | 'mismatch_revoked' (bind to device: the session is now revoked),
--      or {'revoked', now, "<ms>|<reason>", user id, same kind of device (1|0)} when a token of
--         a revoked or evicted session is presented again (once per kind: same / other),
--      or {'expired', now, user id} when this call found the session dead by its fields,
--      or {'none', now} for anything else (unknown session, wrong secret).

local rand, hash = ARGV[1], ARGV[2]
local now = now_ms(ARGV[3])
local idle = tonumber(ARGV[4])
local presented, mismatch_rule = ARGV[6], ARGV[7]
local f = redis.call('HMGET', KEYS[1], 'h', 'c', 'a', 'e', 'ip', 'cc', 'nw', 'ct', 'd', 'k', 'mm',
  'u')

if not f[1] then
  local t = redis.call('GET', KEYS[4])
  if t and string.sub(t, 1, 32) == hash then
    -- One report per kind of presenter: the signed-out device itself ('1'), or another ('2').
    local same = presented ~= '' and presented == string.sub(t, 34, 41)
    local level = same and '1' or '2'
    if string.sub(t, 33, 33) >= level then return {'none', now} end
    redis.call('SET', KEYS[4], string.sub(t, 1, 32) .. level .. string.sub(t, 34), 'KEEPTTL')
    return {'revoked', now, string.sub(t, 42), redis.call('HGET', KEYS[3], 'id') or '',
      same and 1 or 0}
  end
  return {'none', now}
end
if f[1] ~= hash then
  return {'none', now}
end

local a, deadline = tonumber(f[3]), tonumber(f[4])
if not a or not deadline then
  return redis.error_reply('SWCORRUPT session record without activity fields')
end
local user = f[12] or ''
if now >= deadline or now - a >= idle then
  redis.call('DEL', KEYS[1])
  if redis.call('ZREM', KEYS[2], rand) == 1 then
    return {'expired', now, user}
  end
  return {'none', now}
end

local status = 'ok'
if mismatch_rule ~= 'off' and presented ~= '' and f[10] and presented ~= f[10] then
  if mismatch_rule == 'bind' then
    bury(KEYS[4], KEYS[1], now, 'device_mismatch', tonumber(ARGV[8]))
    redis.call('DEL', KEYS[1])
    redis.call('ZREM', KEYS[2], rand)
    status = 'mismatch_revoked'
  else
    -- 'mm' lists the kinds already reported for this session (bounded), one alert per kind.
    local seen = f[11] or ''
    if not string.find(seen, presented, 1, true) then
      if #seen < 90 then redis.call('HSET', KEYS[1], 'mm', seen .. presented .. ',') end
      status = 'mismatch'
    end
  end
end

if status ~= 'mismatch_revoked' and now - a >= tonumber(ARGV[5]) then
  a = now
  redis.call('HSET', KEYS[1], 'a', int(now))
  redis.call('PEXPIRE', KEYS[1], math.min(now + idle, deadline) - now)
  redis.call('ZADD', KEYS[2], 'XX', int(now), rand)
end

return {status, now, user, f[2], a, deadline, f[5], f[6] or '', f[7] or '', f[8] or '',
  f[9]}
