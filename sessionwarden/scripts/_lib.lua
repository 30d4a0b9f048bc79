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

-- A session record is one string: the 32-byte token hash (fixed width, so it may hold any
-- byte), then these fields joined by the unit separator \31, the user id last so that it may
-- hold any byte too: 1 created ms, 2 last activity ms, 3 absolute deadline ms, 4 ip,
-- 5 country, 6 network kind ('' = public), 7 city, 8 device fingerprint, 9 device-class key,
-- 10 class keys already reported as a device mismatch (comma-separated), 11 user id.
-- Every other field is cleaned text or digits, which never contain \31.
local SEP = '\31'

-- The record's parts {h = hash, [1..11] = fields}, or nil when the value does not have that
-- shape (or is not a string at all: a hostile or foreign key of another type).
local function read_session(v)
  if type(v) ~= 'string' or #v < 32 + 10 then return nil end
  local r, pos = {h = string.sub(v, 1, 32)}, 33
  for i = 1, 10 do
    local j = string.find(v, SEP, pos, true)
    if not j then return nil end
    r[i] = string.sub(v, pos, j - 1)
    pos = j + 1
  end
  r[11] = string.sub(v, pos)
  return r
end

local function write_session(r)
  return r.h .. table.concat(r, SEP, 1, 11)
end

-- A session key is alive when it exists and, by its own fields, is neither idle for `idle` ms
-- nor past its absolute deadline. A key that Redis has not yet expired but is dead by its fields
-- (a caller clock ahead of the server) is deleted here. A key that does not parse is reported as
-- alive with no record, so the caller sees it and reports it as corrupt instead of losing it.
-- Returns alive, the record (nil when corrupt or gone), its activity, its deadline, and the
-- value as read ('' when it is not a string).
local function alive(key, now, idle)
  local v = redis.pcall('GET', key)
  if not v then return false end
  if type(v) ~= 'string' then return true, nil, nil, nil, '' end
  local r = read_session(v)
  local a, e = r and tonumber(r[2]), r and tonumber(r[3])
  if not (a and e) then return true, nil, nil, nil, v end
  if now >= e or now - a >= idle then
    redis.call('DEL', key)
    return false, r, a, e, v
  end
  return true, r, a, e, v
end

-- Tombstone of a session about to be revoked or evicted, from its record: its 32-byte token
-- hash, one report flag ('0' not yet reported, '1' reported as used by the same kind of device,
-- '2' by another kind), the session's 8-character device-class key, then "<ms>|<reason>".
-- Kept `ttl` ms for the revoked_token_used rule. A corrupt record (nil) leaves none.
local function bury(tomb_key, r, now, reason, ttl)
  if r then
    local class = string.sub(r[9] .. '--------', 1, 8)
    redis.call('SET', tomb_key, r.h .. '0' .. class .. int(now) .. '|' .. reason, 'PX', ttl)
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
local EVENTS = {key = nil, maxlen = nil, out = {}}

local function events_to(key, maxlen)
  EVENTS.key, EVENTS.maxlen = key, maxlen
end

local function emit(kind, user, sid, now, details)
  local fields = {'type', kind, 'user', user, 'sid', sid, 'sev', 'info', 'at', int(now),
    'd', details}
  if EVENTS.key then
    redis.call('XADD', EVENTS.key, 'MAXLEN', '~', EVENTS.maxlen, '*', unpack(fields))
  else
    EVENTS.out[#EVENTS.out + 1] = fields
  end
end

local EXPIRED = '{"reason":"idle or absolute timeout"}'

-- The tag of a user's keys ('<p>:{<tag>}:...'): session ids are '<tag><rand>'.
local function tag_of(key)
  return string.match(key, '{([^}]*)}')
end
