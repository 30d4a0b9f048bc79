-- Validate a token and touch its session, in one round trip.
-- The session's own key holds its expiry; a touch (at most once per the session's touch interval)
-- moves it to min(now + the record's idle window, the record's deadline), so activity never
-- outlives the absolute lifetime the session was created with.
--
-- KEYS (ValidateKeys in calls.py): the session, the user record (its 's:<rand>' field is the
--   index entry), the tombstone, the probe counter (see count_probe in _lib.lua), with a
--   standalone server the event stream (see events_to).
--   Last, with a standalone server, the stats hash (live sessions, sign-ins per minute:
--   see tally in _lib.lua).
-- ARGV (ValidateArgs): now '' = server time; touch_ms the caller's touch interval, for a
--   record without its own (field 13); class_key of the presenting user agent ('' = not
--   given) and legacy_class_key, the same as version 1 of the class key made it (a session or
--   tombstone written before that change holds it: the same kind of device); mismatch_rule
--   'off' | 'alert' | 'bind' (alert and revoke); bind_details: the revocation event's details
--   under 'bind' (JSON); not_before: revoke_everyone's epoch (ms, '0' = none) as the caller
--   last read it; probe_threshold (0 = rule off), probe_window_ms; activity '1' = this
--   validate is user activity (touch when due), '0' = it is not (validate_session(touch=False):
--   no touch).
-- Every reply ends with the events left for the caller to append (none with a stream key).
-- Returns {status, now, record} with status 'ok' | 'mismatch' (first use from another kind of
--          device) | 'mismatch_revoked' (bind to device: the session is now revoked), and the
--          session record as it now stands (see _lib.lua),
--      or {'revoked', now, "<ms>|<reason>", user id, same kind of device (1|0), events{}} when a
--         token of a revoked or evicted session, or one rotated out of a live session (reason
--         'rotated'), is presented again (once per kind: same / other),
--      or {'expired', now, events{}} when this call found the session dead by its fields,
--      or {'ended', now, events{}} when this call ended the session (revoke_everyone's epoch
--         or a locked account),
--      or {'none', now, events{}, probe reported (1|0), user id when reported} for anything
--         else (unknown session, wrong secret: counted per session, see count_probe).
-- place: the presenting address's country when it is not the session's own ('' = no check);
-- no_ua '1': the request carried an empty User-Agent. Either is reported once per session
-- (and place): status 'moved'. 'moved' replies carry, before the events, the flat
-- {field, value} facts the assessment needs (the user record's 'fs' and 'c:<place>', the
-- session's activity 'a' before this call, 'lp' = the last other place the session was
-- presented from before, '' = none); 'revoked' replies a slot for such facts (tombstone_reply).

local K = named(KEYS, 'session', 'record', 'tombstone', 'probe', 'events', 'stats')
local A = named(ARGV, 'rand', 'token_hash', 'now', 'touch_ms', 'class_key', 'legacy_class_key',
  'mismatch_rule', 'tombstone_ms', 'bind_details', 'stream_maxlen', 'not_before',
  'probe_threshold', 'probe_window_ms', 'place', 'no_ua', 'activity')
local rand, hash = A.rand, A.token_hash
local now = now_ms(A.now)
local presented, mismatch_rule = A.class_key, A.mismatch_rule
local function same_kind(stored)
  return presented ~= '' and (stored == presented
    or (A.legacy_class_key ~= '' and stored == A.legacy_class_key))
end
if K.events then events_to(K.events, A.stream_maxlen, K.stats) end
local v = redis.pcall('GET', K.session)

if not v then
  -- a revoked or evicted session's token presented again (tombstone_reply in _lib.lua)
  local buried = tombstone_reply(K.tombstone, hash, same_kind, A.no_ua == '1', K.record, now,
    A.place)
  if buried then return buried end
  return {'none', now, EVENTS.out}
end

local r = read_session(v)
if r and r.h ~= hash then
  -- A token rotated out of this live session (rotate.lua keeps its hash in the tombstone):
  -- reported as a revoked token presented again.
  local rotated = tombstone_reply(K.tombstone, hash, same_kind, A.no_ua == '1', K.record, now,
    A.place)
  if rotated then return rotated end
  -- A wrong secret for a session that exists: counted (count_probe), answered as an unknown id.
  -- Any check that recognises a legitimate old secret (a rotated-out token) returns before
  -- this block, so such a token is never counted as probing.
  local probed = count_probe(K.probe, now, tonumber(A.probe_threshold),
    tonumber(A.probe_window_ms))
  return {'none', now, EVENTS.out, probed, probed == 1 and r[12] or ''}
end
local a, deadline, idle = r and from_b36(r[2]), r and from_b36(r[3]), r and from_b36(r[4])
if not (a and deadline and idle) then
  return redis.error_reply('SWCORRUPT session record does not parse')
end
if now >= deadline or now - a >= idle then
  redis.call('DEL', K.session)
  if redis.call('HDEL', K.record, 's:' .. rand) == 1 then
    emit('session_expired', r[12], tag_of(K.session) .. rand, now, EXPIRED)
    return {'expired', now, EVENTS.out}
  end
  return {'none', now, EVENTS.out}
end

-- Incident controls: a session created at or before the not-before epoch (revoke_everyone,
-- passed by the caller, who refreshes it), or of a locked account (defence in depth: the lock
-- ended every session), is ended on sight, tombstoned so a replay is revoked_token_used.
local ended = (from_b36(r[1]) or 0) <= tonumber(A.not_before) and 'everyone'
  or (redis.call('HEXISTS', K.record, 'lk') == 1 and 'locked')
if ended then
  bury(K.tombstone, r, now, ended, tonumber(A.tombstone_ms))
  redis.call('DEL', K.session)
  redis.call('HDEL', K.record, 's:' .. rand)
  emit('session_revoked', r[12], tag_of(K.session) .. rand, now,
    cjson.encode({actor = 'sessionwarden', reason = ended}))
  return {'ended', now, EVENTS.out}
end

local status, changed = 'ok', false
if mismatch_rule ~= 'off' and presented ~= '' and r[10] ~= '' and not same_kind(r[10]) then
  if mismatch_rule == 'bind' then
    bury(K.tombstone, r, now, 'device_mismatch', tonumber(A.tombstone_ms))
    redis.call('DEL', K.session)
    redis.call('HDEL', K.record, 's:' .. rand)
    emit('session_revoked', r[12], tag_of(K.session) .. rand, now, A.bind_details)
    return {'mismatch_revoked', now, v, EVENTS.out}
  end
  -- Field 11 lists the kinds already reported for this session (bounded), one alert per kind.
  if not string.find(r[11], presented, 1, true) then
    if #r[11] < 90 then
      r[11] = r[11] .. presented .. ','
      changed = true
    end
    status = 'mismatch'
  end
end

-- The place check (detection: a live token presented elsewhere), once per session and place.
local function mark(m)
  if string.find(r[11], m, 1, true) or #r[11] >= 90 then return false end
  r[11] = r[11] .. m .. ','
  changed = true
  return true
end
local facts = nil
local last_place = ''  -- the last other place this session was presented from
for p in string.gmatch(r[11], '@(%u%u),') do last_place = p end
-- (A session with no country of its own, r[6] '', is checked wherever it is presented from.)
if status == 'ok' and ((A.place ~= '' and A.place ~= r[6] and mark('@' .. A.place))
    or (A.no_ua == '1' and r[10] ~= '' and mark('@-'))) then
  status = 'moved'
end
if status == 'moved' then
  local f = redis.call('HMGET', K.record, 'fs', 'c:' .. (A.place ~= '' and A.place or '-'))
  facts = {'fs', f[1] or '', 'c', f[2] or '', 'a', int(a), 'lp', last_place}
end

-- The session's own touch interval (a session without a policy: the caller's); a validate
-- that is not user activity (activity '0': polling, health checks) never touches.
local touch = r[13] ~= '' and from_b36(r[13]) or tonumber(A.touch_ms)
if A.activity == '1' and now - a >= touch then
  r[2] = b36(now)
  v = write_session(r)
  redis.call('SET', K.session, v, 'PX', math.min(now + idle, deadline) - now)
  if redis.call('HSET', K.record, 's:' .. rand, int(now)) == 1
      and redis.call('PTTL', K.record) < 0 then
    -- the user record was gone (deleted by hand): never leave a record without an expiry
    redis.call('PEXPIRE', K.record, deadline - now)
  end
  if facts then return {status, now, v, facts, EVENTS.out} end
  return {status, now, v, EVENTS.out}
end
if changed then
  v = write_session(r)
  redis.call('SET', K.session, v, 'KEEPTTL')
end
if facts then return {status, now, v, facts, EVENTS.out} end
return {status, now, v, EVENTS.out}
