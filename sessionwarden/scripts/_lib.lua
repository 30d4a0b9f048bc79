-- Shared helpers, prepended to every script of this folder when it is loaded.
-- Time is the server's (TIME) unless the caller passes a clock for tests and simulations, so
-- every application server agrees on "now" and PEXPIRE deadlines match the stored fields.

local function now_ms(arg)
  local n = tonumber(arg)
  if n then return n end
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- Integers as decimal strings: Lua's default number formatting may switch to exponents.
local function int(n)
  return string.format('%d', n)
end

-- The times of a session record are base-36 integers of milliseconds: 8 characters for a time
-- where decimal takes 13. With the idle window the record gained a field, and base 36 keeps
-- its value inside the allocation size class it had before (see docs/performance.md).
local B36 = '0123456789abcdefghijklmnopqrstuvwxyz'

local function b36(n)
  n = math.floor(n)
  if n <= 0 then return '0' end
  local out = {}
  while n > 0 do
    local d = n % 36
    table.insert(out, 1, string.sub(B36, d + 1, d + 1))
    n = (n - d) / 36
  end
  return table.concat(out)
end

local function from_b36(s)
  if type(s) ~= 'string' or not string.find(s, '^[0-9a-z]+$') then return nil end
  return tonumber(s, 36)
end

-- Keys and arguments by name: each script declares its KEYS and ARGV once, in order, with
-- named(KEYS, ...) and named(ARGV, ...); sessionwarden/scripts/calls.py lists the same names and
-- a test holds the two against each other.
local function named(values, ...)
  local t = {}
  for i, name in ipairs({...}) do t[name] = values[i] end
  return t
end

-- A session record is one string: the 32-byte token hash (fixed width, so it may hold any
-- byte), then these fields joined by the unit separator \31: 1 created, 2 last activity,
-- 3 absolute deadline, 4 idle window (all four ms, base 36: b36 above), 5 ip, 6 country, 7 network kind ('' = public),
-- 8 city, 9 device fingerprint, 10 device-class key, 11 class keys already reported as a
-- device mismatch (comma-separated), 12 user id. The deadline and the idle window are the
-- ones the session was created with: every script judges a session by its record alone, so no
-- process's settings can change which sessions are alive.
-- Then the session's policy and its last proof of identity, each '' for "as without a
-- policy": 13 touch interval (ms, b36; '' = the caller's), 14 authenticated at (ms, b36;
-- '' = created), 15 assurance (rank digit; '' = 0, password), 16 re-authentication extension
-- and 17 its bound from creation (ms, b36; '' = none), 18 policy name. A record of the 12
-- fields before these reads as if they were all ''.
local SEP = '\31'
local FIELDS = 18
local LEGACY_FIELDS = 12

-- The record's parts {h = hash, [1..18] = fields}, or nil when the value does not have that
-- shape (or is not a string at all: a hostile or foreign key of another type).
local function read_session(v)
  if type(v) ~= 'string' or #v < 32 + LEGACY_FIELDS - 1 then return nil end
  local r, pos, n = {h = string.sub(v, 1, 32)}, 33, 0
  while true do
    n = n + 1
    if n > FIELDS then return nil end
    local j = string.find(v, SEP, pos, true)
    if not j then
      r[n] = string.sub(v, pos)
      break
    end
    r[n] = string.sub(v, pos, j - 1)
    pos = j + 1
  end
  if n == LEGACY_FIELDS then
    for i = LEGACY_FIELDS + 1, FIELDS do r[i] = '' end
  elseif n ~= FIELDS then
    return nil
  end
  return r
end

-- The one place a record is written: a field holding the separator or a control character
-- (C0, DEL, or C1 in UTF-8) is refused, loudly, so no field can ever split a record.
local function write_session(r)
  for i = 1, FIELDS do
    local f = r[i]
    if string.find(f, '%c') or string.find(f, '\194[\128-\159]') then
      return error({err = 'SWFIELD session record field ' .. i .. ' holds a control character'})
    end
  end
  return r.h .. table.concat(r, SEP, 1, FIELDS)
end

-- A session key is alive when it exists and, by its own fields, is neither idle for its idle
-- window nor past its absolute deadline. A key that Redis has not yet expired but is dead by its
-- fields (a caller clock ahead of the server) is deleted here. A key that does not parse is
-- reported as alive with no record, so the caller sees it and reports it as corrupt instead of
-- losing it. Returns alive, the record (nil when corrupt or gone), its activity, its expiry
-- (min(activity + idle window, deadline)), and the value as read ('' when not a string).
local function alive(key, now)
  local v = redis.pcall('GET', key)
  if not v then return false end
  if type(v) ~= 'string' then return true, nil, nil, nil, '' end
  local r = read_session(v)
  local a, e, i = r and from_b36(r[2]), r and from_b36(r[3]), r and from_b36(r[4])
  if not (a and e and i) then return true, nil, nil, nil, v end
  local expiry = math.min(a + i, e)
  if now >= expiry then
    redis.call('DEL', key)
    return false, r, a, expiry, v
  end
  return true, r, a, expiry, v
end

-- Tombstone of a session about to be revoked or evicted, from its record: its 32-byte token
-- hash, one report flag ('0' not yet reported, '1' reported as used by the same kind of device,
-- '2' by another kind), the session's 8-character device-class key, its country or '--'
-- (below), then "<ms>|<reason>".
-- Kept `ttl` ms for the revoked_token_used rule. A corrupt record (nil) leaves none.
local function bury(tomb_key, r, now, reason, ttl, placed)
  if r then
    local class = string.sub(r[10] .. '--------', 1, 8)
    -- placed: the session ended on its own (revoke.lua: most often its device signing out;
    -- rotate.lua: its old token): its country is kept ('--' none), and a replay of the token
    -- from elsewhere is judged by it. A session ended with others (sign out everywhere else,
    -- a lock, sign out everyone) or evicted leaves its device holding a token it goes on
    -- presenting wherever its owner goes: no country.
    local country = placed and string.match(r[6], '^%u%u$') or '--'
    redis.call('SET', tomb_key, r.h .. '0' .. class .. country .. int(now) .. '|' .. reason,
      'PX', ttl)
  end
end

-- The user record is one hash: profile fields ('id', 'em', 'll', ...), the session index
-- ('s:<rand>' = last activity ms of each session), and the devices ('d:<fp>', 'n:<fp>').
-- One key rather than three saves ~300 bytes per user. Returns the fields as a table and the
-- indexed sessions as {rand, activity} pairs, least recently active first (ties by rand).
local function read_user(key)
  local flat = redis.call('HGETALL', key)
  local fields, sessions = {}, {}
  for i = 1, #flat, 2 do
    local k, v = flat[i], flat[i + 1]
    fields[k] = v
    if string.sub(k, 1, 2) == 's:' then
      sessions[#sessions + 1] = {string.sub(k, 3), tonumber(v) or 0}
    end
  end
  table.sort(sessions, function(x, y)
    if x[2] ~= y[2] then return x[2] < y[2] end
    return x[1] < y[1]
  end)
  return fields, sessions
end

-- Events. A script that changes sessions reports the change as stream entries built here
-- (type, user, sid, sev, at, d = details JSON; the same fields codec.event_fields writes).
-- With a standalone server the caller passes the stream key as the script's last key and the
-- script appends the entries itself, atomically with the change: a crash cannot lose them. On
-- a Cluster the stream lives in another slot, so the caller passes no key and appends the
-- entries the script returns (its reply's last element) right after it.
local EVENTS = {key = nil, maxlen = nil, out = {}, stats = nil}

-- Totals for the console, in the stats hash ('<p>:stats'): 'live' = live sessions (+1 per
-- login, -1 per revocation, eviction and expiry report: exact once each expiry is reported,
-- i.e. within one sweep interval), and a ring of 120 per-minute slots 'l<m % 120>' (sign-ins)
-- and 'a<m % 120>' (alerts) holding '<minute>:<count>', so the hash never grows. A slot of an
-- older minute is restarted when its minute comes round again. Written here with a standalone
-- server; on a Cluster the caller runs tally.lua with the same counts.
local function tally(key, now, live, logins, alerts)
  if live ~= 0 then redis.call('HINCRBY', key, 'live', live) end
  local m = math.floor(now / 60000)
  local slot = int(m % 120)
  for _, kv in ipairs({{'l', logins}, {'a', alerts}}) do
    if kv[2] ~= 0 then
      local f = kv[1] .. slot
      local vm, c = string.match(redis.call('HGET', key, f) or '', '^(%d+):(%d+)$')
      local count = (tonumber(vm) == m and tonumber(c) or 0) + kv[2]
      redis.call('HSET', key, f, int(m) .. ':' .. int(count))
    end
  end
end

local LIVE_DELTA = {login = 1, session_revoked = -1, session_expired = -1, session_evicted = -1}

local function events_to(key, maxlen, stats)
  EVENTS.key, EVENTS.maxlen, EVENTS.stats = key, maxlen, stats
end

local function emit(kind, user, sid, now, details)
  local fields = {'type', kind, 'user', user, 'sid', sid, 'sev', 'info', 'at', int(now),
    'd', details}
  if EVENTS.key then
    redis.call('XADD', EVENTS.key, 'MAXLEN', '~', EVENTS.maxlen, '*', unpack(fields))
    if EVENTS.stats and LIVE_DELTA[kind] then
      tally(EVENTS.stats, now, LIVE_DELTA[kind], kind == 'login' and 1 or 0, 0)
    end
  else
    EVENTS.out[#EVENTS.out + 1] = fields
  end
end

local EXPIRED = '{"reason":"idle or absolute timeout"}'

-- The audit trail: what an actor did (a revocation by an operator, the app or the account
-- owner) is also recorded, apart from the event stream and never trimmed with it. Each entry is
-- {kind, actor, user, sid, reason, at, d} (codec.audit_fields writes the same). The global
-- trail is a stream, written here on a standalone server, else its entries are returned (the
-- reply's last element) for the caller to append. The user's own trail is in the user's slot,
-- so the script always writes it: a capped list, newest first, of JSON arrays
-- [global id ('' when the caller appends the global entry), kind, actor, user, sid, reason, at,
-- d] (codec.user_trail_entry): a list, not a stream, because on Redis 7.0 a stream's first
-- node costs ~4.7 KB, a list of a few entries ~0.3 KB.
local AUDIT = {user = nil, key = nil, ttl = nil, out = {}}
local USER_AUDIT_KEPT = 200

local function audit_to(user_key, ttl, global_key)
  AUDIT.user, AUDIT.ttl, AUDIT.key = user_key, ttl, global_key
end

local function audit(kind, user, sid, now, actor, reason, details)
  local fields = {'kind', kind, 'actor', actor, 'user', user, 'sid', sid, 'reason', reason,
    'at', int(now), 'd', details}
  local id = ''
  if AUDIT.key then
    id = redis.call('XADD', AUDIT.key, '*', unpack(fields))
  else
    AUDIT.out[#AUDIT.out + 1] = fields
  end
  if not AUDIT.user then return end  -- an entry about no one user (revoke_everyone)
  redis.call('LPUSH', AUDIT.user, cjson.encode({id, kind, actor, user, sid, reason, int(now),
    details}))
  redis.call('LTRIM', AUDIT.user, 0, USER_AUDIT_KEPT - 1)
  redis.call('PEXPIRE', AUDIT.user, AUDIT.ttl)
end

-- The tag of a user's keys ('<p>:{<tag>}:...'): session ids are '<tag><rand>'.
local function tag_of(key)
  return string.match(key, '{([^}]*)}')
end

-- End the sessions of a user's index that `ends(rand, record)` picks (record nil when corrupt),
-- each tombstoned with `tomb_reason`, and prune the members already dead. Returns the rands
-- ended and the rands found expired; the caller reports both (`report_ended`).
local function end_sessions(record, base, indexed, now, tomb_reason, tomb_ms, ends)
  local ended, expired = {}, {}
  for _, entry in ipairs(indexed) do
    local m = entry[1]
    local key = base .. 's:' .. m
    local live, r = alive(key, now)
    if not live then
      redis.call('HDEL', record, 's:' .. m)
      expired[#expired + 1] = m
    elseif ends(m, r) then
      bury(base .. 'x:' .. m, r, now, tomb_reason, tomb_ms)
      redis.call('DEL', key)
      redis.call('HDEL', record, 's:' .. m)
      ended[#ended + 1] = m
    end
  end
  return ended, expired
end

-- Report what end_sessions did: session_expired per expired member, session_revoked (with
-- `details`) per ended one and, when `actor` is given, an audit entry per ended one.
local function report_ended(user, tag, ended, expired, now, details, actor, reason)
  for _, m in ipairs(expired) do emit('session_expired', user, tag .. m, now, EXPIRED) end
  for _, m in ipairs(ended) do
    emit('session_revoked', user, tag .. m, now, details)
    if actor then audit('session_revoked', user, tag .. m, now, actor, reason, details) end
  end
end

-- Probing of a known session id: a wrong secret presented for a session that exists. Counted
-- per session in `key`, "<count>|<window end ms>" (the window starts at the first wrong
-- secret); when the count reaches `threshold` the burst is reported once (returns 1) and the
-- key becomes "x|<quiet until ms>", pushed a window ahead by every further wrong secret, so a
-- sustained run is one report and a new burst after a quiet window is another. Judged by `now`
-- (the caller's clock in tests), with PX as well so the key never outlives its window.
-- threshold 0 = rule off. Bounded: one short key per probed session.
local function count_probe(key, now, threshold, window_ms)
  if threshold <= 0 then return 0 end
  local n, ends = string.match(redis.call('GET', key) or '', '^(%w+)|(%d+)$')
  ends = tonumber(ends)
  if not ends or now >= ends then n, ends = nil, now + window_ms end
  local count = n ~= 'x' and (tonumber(n) or 0) + 1
  if count and count < threshold then
    redis.call('SET', key, int(count) .. '|' .. int(ends), 'PX', ends - now)
    return 0
  end
  redis.call('SET', key, 'x|' .. int(now + window_ms), 'PX', window_ms)
  return count and 1 or 0
end

-- The reply to a token whose hash is in the session's tombstone, or nil when it is not
-- there. The tombstone holds the hash of a revoked or evicted session's token (bury above) or,
-- while the session lives on, of the token rotate.lua replaced. One report per kind of
-- presenter: the kind of device the token belonged to ('1': same_kind(the tombstone's class
-- key) is true), or another ('2'); a token already reported for its kind is answered 'none'.
-- A presenter with an empty user agent (first_level: the request had none) is at the first
-- level: it may be the user's own client that omits the header, and must not use up the
-- report a thief's device would get. (No user agent given at all: another kind, as before.)
-- The reply carries the facts the detection rules need: the session's country ('sc', '' =
-- none) and, for `place` (the presenting address's country, '' = not located), the account's
-- first sign-in ('fs') and its history there ('c'). (The user's incident is finding.lua's.)
-- (A tombstone written before the country was kept has a digit where the country is.)
local function tombstone_reply(tomb_key, hash, same_kind, first_level, user_key, now, place)
  local t = redis.call('GET', tomb_key)
  if not (t and string.sub(t, 1, 32) == hash) then return nil end
  local same = same_kind(string.sub(t, 34, 41))
  local level = (same or first_level) and '1' or '2'
  if string.sub(t, 33, 33) >= level then return {'none', now, EVENTS.out} end
  redis.call('SET', tomb_key, string.sub(t, 1, 32) .. level .. string.sub(t, 34), 'KEEPTTL')
  local country, rest = string.match(t, '^(%u%u)(%d.*)$', 42)
  if not country then country, rest = string.match(t, '^(%-%-)(%d.*)$', 42) end
  if not country then rest = string.sub(t, 42) end
  local f = redis.call('HMGET', user_key, 'id', 'fs', 'c:' .. (place ~= '' and place or '-'))
  return {'revoked', now, rest, f[1] or '', same and 1 or 0,
    {'sc', (country ~= '--' and country) or '', 'fs', f[2] or '', 'c', f[3] or ''},
    EVENTS.out}
end

-- The record of a live session presented with its current token, for the scripts that act on
-- one (reauthenticate, rotate): the record and its times {created, active, deadline, idle},
-- or nil and the reply to return: 'none' (unknown session, wrong or rotated-out token, a key
-- of another type), 'expired' (dead by its own fields: deleted and reported, as validate
-- does), or an SWCORRUPT error for a record that does not parse.
local function presented_session(session_key, user_key, rand, hash, now)
  local r = read_session(redis.pcall('GET', session_key))
  if not r or r.h ~= hash then return nil, {'none', now, EVENTS.out} end
  local t = {created = from_b36(r[1]), active = from_b36(r[2]), deadline = from_b36(r[3]),
    idle = from_b36(r[4])}
  if not (t.created and t.active and t.deadline and t.idle) then
    return nil, redis.error_reply('SWCORRUPT session record does not parse')
  end
  if now >= t.deadline or now - t.active >= t.idle then
    redis.call('DEL', session_key)
    if redis.call('HDEL', user_key, 's:' .. rand) == 1 then
      emit('session_expired', r[12], tag_of(session_key) .. rand, now, EXPIRED)
      return nil, {'expired', now, EVENTS.out}
    end
    return nil, {'none', now, EVENTS.out}
  end
  return r, t
end
