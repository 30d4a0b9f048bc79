-- Validate a token and touch its session, in one round trip.
-- The session's own key holds its expiry; a touch (at most once per touch interval) moves it to
-- min(now + idle, absolute deadline), so activity never outlives the absolute lifetime.
--
-- KEYS: 1 session, 2 user record (its 's:<rand>' field is the index entry), 3 tombstone,
--       with a standalone server 4 event stream (see events_to in _lib.lua)
-- ARGV: 1 rand, 2 token hash, 3 now ('' = server time), 4 idle ms, 5 touch ms,
--       6 class key of the presenting user agent ('' = not given),
--       7 device mismatch rule ('off' | 'alert' | 'bind': alert and revoke), 8 tombstone ms,
--       9 details of the revocation event of 'bind' (JSON), 10 event stream MAXLEN
-- Every reply ends with the events left for the caller to append (none with a stream key).
-- Returns {status, now, record} with status 'ok' | 'mismatch' (first use from another kind of
--          device) | 'mismatch_revoked' (bind to device: the session is now revoked), and the
--          session record as it now stands (see _lib.lua),
--      or {'revoked', now, "<ms>|<reason>", user id, same kind of device (1|0)} when a token of
--         a revoked or evicted session is presented again (once per kind: same / other),
--      or {'expired', now, events{}} when this call found the session dead by its fields,
--      or {'none', now} for anything else (unknown session, wrong secret).

local rand, hash = ARGV[1], ARGV[2]
local now = now_ms(ARGV[3])
local idle = tonumber(ARGV[4])
local presented, mismatch_rule = ARGV[6], ARGV[7]
if KEYS[4] then events_to(KEYS[4], ARGV[10]) end
local v = redis.pcall('GET', KEYS[1])

if not v then
  local t = redis.call('GET', KEYS[3])
  if t and string.sub(t, 1, 32) == hash then
    -- One report per kind of presenter: the signed-out device itself ('1'), or another ('2').
    local same = presented ~= '' and presented == string.sub(t, 34, 41)
    local level = same and '1' or '2'
    if string.sub(t, 33, 33) >= level then return {'none', now, EVENTS.out} end
    redis.call('SET', KEYS[3], string.sub(t, 1, 32) .. level .. string.sub(t, 34), 'KEEPTTL')
    return {'revoked', now, string.sub(t, 42), redis.call('HGET', KEYS[2], 'id') or '',
      same and 1 or 0, EVENTS.out}
  end
  return {'none', now, EVENTS.out}
end

local r = read_session(v)
if r and r.h ~= hash then
  return {'none', now, EVENTS.out}
end
local a, deadline = r and tonumber(r[2]), r and tonumber(r[3])
if not (a and deadline) then
  return redis.error_reply('SWCORRUPT session record does not parse')
end
if now >= deadline or now - a >= idle then
  redis.call('DEL', KEYS[1])
  if redis.call('HDEL', KEYS[2], 's:' .. rand) == 1 then
    emit('session_expired', r[11], tag_of(KEYS[1]) .. rand, now, EXPIRED)
    return {'expired', now, EVENTS.out}
  end
  return {'none', now, EVENTS.out}
end

local status, changed = 'ok', false
if mismatch_rule ~= 'off' and presented ~= '' and r[9] ~= '' and presented ~= r[9] then
  if mismatch_rule == 'bind' then
    bury(KEYS[3], r, now, 'device_mismatch', tonumber(ARGV[8]))
    redis.call('DEL', KEYS[1])
    redis.call('HDEL', KEYS[2], 's:' .. rand)
    emit('session_revoked', r[11], tag_of(KEYS[1]) .. rand, now, ARGV[9])
    return {'mismatch_revoked', now, v, EVENTS.out}
  end
  -- Field 10 lists the kinds already reported for this session (bounded), one alert per kind.
  if not string.find(r[10], presented, 1, true) then
    if #r[10] < 90 then
      r[10] = r[10] .. presented .. ','
      changed = true
    end
    status = 'mismatch'
  end
end

if now - a >= tonumber(ARGV[5]) then
  r[2] = int(now)
  v = write_session(r)
  redis.call('SET', KEYS[1], v, 'PX', math.min(now + idle, deadline) - now)
  if redis.call('HSET', KEYS[2], 's:' .. rand, int(now)) == 1
      and redis.call('PTTL', KEYS[2]) < 0 then
    -- the user record was gone (deleted by hand): never leave a record without an expiry
    redis.call('PEXPIRE', KEYS[2], deadline - now)
  end
  return {status, now, v, EVENTS.out}
end
if changed then
  v = write_session(r)
  redis.call('SET', KEYS[1], v, 'KEEPTTL')
end
return {status, now, v, EVENTS.out}
