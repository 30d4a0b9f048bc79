-- Create a session atomically: prune expired members of the user's index, enforce the session
-- limit (evict the least recently active, or deny), write the session with its own expiry and
-- the idle window and deadline it lives by, record the device and login history, and return
-- what the detection rules need.
--
-- KEYS (CreateKeys in calls.py): the user record (profile, session index and devices: see
--   read_user in _lib.lua); with a standalone server also the event stream, the expiry index,
--   the user directory and the recent users: the sign-in's events and global index entries are
--   then written here (see events_to in _lib.lua), else returned / left to the caller.
--   Last, with a standalone server, the stats hash (live sessions, sign-ins per minute:
--   see tally in _lib.lua).
-- ARGV (CreateArgs): now '' = server time; on_limit 'evict' | 'deny'; burst_threshold K (more
--   than K sign-ins in the window is a burst; 0 = rule off); login/evicted details are JSON;
--   retention_ms '' = none; legacy_fingerprint: the device's fingerprint as version 1 made it,
--   reduced_kind: '<label>\31<class>' for Chrome's reduced user agent, else '' (a known device
--   recorded under the one, or of the other kind, is this one: see "moves" below).
--   net_key: the sign-in's network for familiarity ('' = none: see networks.py).
--   touch_ms, extension_ms, max_lifetime_ms, policy: the session's policy ('' = none: the
--   caller's touch interval, no extension on re-authentication); assurance: the rank digit of
--   the sign-in's proof ('' = password).
-- Returns {'ok', now, expiry, known device, devices before, country known, countries before,
--          previous login, logins in window, live{}, burst started (1|0), profile{}, events{}}
--      profile = flat {field, value, ...} of what familiarity needs, as stored before this
--      sign-in: every 'c:<country>', this network's 'w:<net>', 'sk', 'fs',
--      and 'd' = this device's 'd:<fp>' when it is known (its last sign-in's time and place).
--      or {'denied', now, events{}} when the limit is reached with on_limit = 'deny',
--      or {'locked', now, events{}} when the account is locked (nothing written).
--      live = flat {rand, country, fingerprint, last active, ...} of the sessions now live.

local K = named(KEYS, 'record', 'events', 'expiry_index', 'directory', 'recent_users', 'stats')
local A = named(ARGV, 'base', 'rand', 'user_id', 'token_hash', 'now', 'idle_ms', 'absolute_ms',
  'max_sessions', 'on_limit', 'tombstone_ms', 'history_ms', 'fingerprint', 'legacy_fingerprint',
  'reduced_kind', 'class_key',
  'description', 'ip', 'country', 'network', 'city', 'lat', 'lon', 'email', 'burst_window_ms',
  'max_devices', 'burst_threshold', 'login_details', 'evicted_details', 'stream_maxlen',
  'retention_ms', 'recent_users_kept', 'net_key', 'max_networks', 'learning_ms', 'touch_ms',
  'assurance', 'extension_ms', 'max_lifetime_ms', 'policy')
local base, rand, user, hash = A.base, A.rand, A.user_id, A.token_hash
local now = now_ms(A.now)
local idle, absolute = tonumber(A.idle_ms), tonumber(A.absolute_ms)
local limit, tomb_ms, history_ms = tonumber(A.max_sessions), tonumber(A.tombstone_ms),
  tonumber(A.history_ms)
local fp, class_key, description = A.fingerprint, A.class_key, A.description
local ip, country, network, city = A.ip, A.country, A.network, A.city
local window, threshold = tonumber(A.burst_window_ms), tonumber(A.burst_threshold)
local tag = tag_of(K.record)
if K.events then events_to(K.events, A.stream_maxlen, K.stats) end

-- Everything this login needs, in one read of the user record.
local country_field = country ~= '' and 'c:' .. country or 'c:-'
local rec, indexed = read_user(K.record)
if rec.id and rec.id ~= user then
  return redis.error_reply('SWCOLLISION two user ids share a key tag')
end
-- A locked account (lock.lua) takes no new session until it is unlocked.
if rec.lk then return {'locked', now, EVENTS.out} end
local countries_before = tonumber(rec.nc or '0') or 0
local previous = rec.ll and (rec.ll .. '|' .. (rec.li or '')) or ''
local country_known = (country ~= '' and rec[country_field]) and 1 or 0

-- Prune: sessions whose key is gone (or dead by its fields) expired on their own. One read per
-- session also gives what eviction and the detection summary need.
local expired, live, drop = {}, {}, {}
for _, m in ipairs(indexed) do
  local ok, r, a = alive(base .. 's:' .. m[1], now)
  if ok then
    -- a corrupt record (r = nil) stays, for the reader to report
    live[#live + 1] = {m[1], r and r[6] or '', r and r[9] or '', a or now, r}
  else
    drop[#drop + 1] = 's:' .. m[1]
    expired[#expired + 1] = m[1]
  end
end

-- Limit: the index is ordered by last activity, so the first sessions are the least recent.
local evicted = {}
local excess = #live - limit + 1
if excess > 0 then
  if A.on_limit == 'deny' then
    if #drop > 0 then redis.call('HDEL', K.record, unpack(drop)) end
    for _, m in ipairs(expired) do emit('session_expired', user, tag .. m, now, EXPIRED) end
    return {'denied', now, EVENTS.out}
  end
  for j = 1, excess do
    local s = live[j]
    bury(base .. 'x:' .. s[1], s[5], now, 'evicted', tomb_ms)
    redis.call('DEL', base .. 's:' .. s[1])
    drop[#drop + 1] = 's:' .. s[1]
    evicted[#evicted + 1] = s[1]
  end
end

-- The session itself: its key expires on its own at min(now + idle, now + absolute).
local deadline = now + absolute
local expiry = math.min(now + idle, deadline)
-- Fields 13-18: the policy and the proof of identity ('' = as without a policy; _lib.lua).
local function ms_or_empty(v) return v ~= '' and b36(tonumber(v)) or '' end
redis.call('SET', base .. 's:' .. rand, write_session({h = hash, b36(now), b36(now),
  b36(deadline), b36(idle), ip, country, network ~= 'public' and network or '', city, fp, class_key, '',
  user, ms_or_empty(A.touch_ms), '', A.assurance, ms_or_empty(A.extension_ms),
  ms_or_empty(A.max_lifetime_ms), A.policy}), 'PX', expiry - now)

-- Two fields per device, each short enough for Redis to keep the record in its compact listpack
-- encoding (values of at most 64 bytes by default; one longer value would triple the hash):
-- d:<fp> = "<first seen s>|<last seen s>|<last country>|<last ip>", rewritten at each sign-in,
-- and n:<fp> = the description, written once (the fingerprint is a hash of what it describes).
-- Bounded by dropping the least recently seen device that no live session uses.
local update = {'s:' .. rand, int(now)}
local known_device = rec['d:' .. fp]
local devices_before = 0
for k in pairs(rec) do
  if string.sub(k, 1, 2) == 'd:' then devices_before = devices_before + 1 end
end
-- The same device under another fingerprint moves to this one (first seen and history kept):
-- its version-1 fingerprint (or a v1 entry v2 merges into this one, e.g. with and without
-- 'Ubuntu;'); and, for Chrome's reduced user agent (reduced_kind = the description's
-- '<label>\31<class>': no model to tell), the most recently seen known device of that kind.
local moved = false
local function move_from(old)
  if not known_device then known_device, moved = rec['d:' .. old], true end
  drop[#drop + 1] = 'd:' .. old
  rec['d:' .. old] = nil
end
local legacy = A.legacy_fingerprint
if legacy ~= '' and legacy ~= fp and rec['d:' .. legacy] then move_from(legacy) end
if not known_device and A.reduced_kind ~= '' then
  local best, best_seen = nil, -1
  for k, v in pairs(rec) do
    local f = string.sub(k, 3)
    if string.sub(k, 1, 2) == 'n:' and f ~= fp and rec['d:' .. f] then
      local label, class = string.match(v, '^([^\31]*)\31.*\31([^\31]*)$')
      local seen = tonumber(string.match(rec['d:' .. f], '^%d+|(%d+)|')) or 0
      if label and label .. '\31' .. class == A.reduced_kind and seen > best_seen then
        best, best_seen = f, seen
      end
    end
  end
  if best then move_from(best) end
end
-- A description whose device entry is gone stays while a live session still shows it.
local shown = {}
for _, s in ipairs(live) do shown[s[3]] = true end
for k in pairs(rec) do
  local f = string.sub(k, 3)
  if string.sub(k, 1, 2) == 'n:' and f ~= fp and not rec['d:' .. f] and not shown[f] then
    drop[#drop + 1] = k
  end
end
local now_s = math.floor(now / 1000)
local first = now_s
if known_device then first = tonumber(string.match(known_device, '^(%d+)|')) or now_s end
update[#update + 1] = 'd:' .. fp
update[#update + 1] = int(first) .. '|' .. int(now_s) .. '|' .. country .. '|' .. ip
if not known_device or moved then
  update[#update + 1] = 'n:' .. fp; update[#update + 1] = description
end
if not known_device and devices_before + 1 > tonumber(A.max_devices) then
  local in_use = {[fp] = true}
  for j = excess > 0 and excess + 1 or 1, #live do in_use[live[j][3]] = true end
  local oldest, oldest_seen = nil, nil
  for k, v in pairs(rec) do
    if string.sub(k, 1, 2) == 'd:' then
      local d, last = string.sub(k, 3), tonumber(string.match(v, '^%d+|(%d+)|')) or 0
      if not in_use[d] and (not oldest_seen or last < oldest_seen
          or (last == oldest_seen and d < oldest)) then
        oldest, oldest_seen = d, last
      end
    end
  end
  if oldest then
    drop[#drop + 1] = 'd:' .. oldest; drop[#drop + 1] = 'n:' .. oldest
  end
end

-- User record: owner id, contact, last located login (a login without coordinates leaves it
-- for the travel rule), countries seen, and the sign-in times of the burst window: the last
-- K + 1 of them are all "more than K within the window" needs.
update[#update + 1] = 'id'; update[#update + 1] = user
if A.lat ~= '' then
  -- the address in a field of its own: with an IPv6 address one value would pass the 64
  -- bytes up to which Redis keeps the hash compact
  update[#update + 1] = 'll'
  update[#update + 1] = int(now) .. '|' .. A.lat .. '|' .. A.lon .. '|' .. country
  update[#update + 1] = 'li'; update[#update + 1] = ip
end
if A.email ~= '' then update[#update + 1] = 'em'; update[#update + 1] = A.email end
if country ~= '' and country_known == 0 then
  update[#update + 1] = 'nc'; update[#update + 1] = int(countries_before + 1)
end
local logins, burst = 0, 0
if threshold > 0 then
  -- 'lt' holds the times in seconds: the first in full, the others as offsets from it
  -- ("1795742606,3,40"), so K + 1 = 11 times stay within the 64 bytes of the compact
  -- encoding (11 times in ms would take 153).
  local times, first = {}, nil
  for t in string.gmatch(rec.lt or '', '%d+') do
    local s = tonumber(t)
    if first then s = first + s else first = s end
    if s * 1000 >= now - window then times[#times + 1] = s end
  end
  times[#times + 1] = math.floor(now / 1000)
  while #times > threshold + 1 do table.remove(times, 1) end
  local packed = {int(times[1])}
  for j = 2, #times do packed[j] = int(times[j] - times[1]) end
  update[#update + 1] = 'lt'; update[#update + 1] = table.concat(packed, ',')
  logins = #times
  -- A burst is reported when the count first exceeds K; every sign-in while it lasts pushes
  -- 'bq' (quiet until) a window ahead, so a sustained run is one alert, and a new burst after
  -- a quiet window is another.
  if logins > threshold then
    if now >= (tonumber(rec.bq or '0') or 0) then burst = 1 end
    update[#update + 1] = 'bq'; update[#update + 1] = int(now + window)
  end
end
-- Familiarity (detection.py): 'c:<country>' = "<first ms>|<sign-ins from known devices>"
-- (an older record holds only "<first ms>"), 'w:<net>' = "<sign-ins from known devices>|<last
-- s>", the networks bounded to max_networks (the least recently seen goes), 'fs' = the
-- account's first sign-in (s, for the learning period). 'sk' (known shared account until) is
-- written by the caller after the rules ran. (The user's incident is decided by finding.lua,
-- in a key of its own: an 'ic' field that an earlier version wrote here goes now.)
local profile = {}
for k, v in pairs(rec) do
  if string.sub(k, 1, 2) == 'c:' then profile[#profile + 1] = k; profile[#profile + 1] = v end
end
for _, f in ipairs({'sk', 'fs'}) do
  if rec[f] then profile[#profile + 1] = f; profile[#profile + 1] = rec[f] end
end
if known_device then profile[#profile + 1] = 'd'; profile[#profile + 1] = known_device end
-- a place counts when a known device signs in there, or any device while the account is new
local learning = not rec.fs or now_s - (tonumber(rec.fs) or 0) < tonumber(A.learning_ms) / 1000
local seen_here = (known_device or devices_before == 0 or learning) and 1 or 0
if country ~= '' then
  local first_ms, count = string.match(rec[country_field] or '', '^(%d+)|?(%d*)$')
  update[#update + 1] = country_field
  update[#update + 1] = (first_ms or int(now)) .. '|'
    .. int(math.min((tonumber(count) or (first_ms and 1 or 0)) + seen_here, 999))
end
if A.net_key ~= '' then
  local net_field = 'w:' .. A.net_key
  local was = rec[net_field]
  if was then profile[#profile + 1] = net_field; profile[#profile + 1] = was end
  update[#update + 1] = net_field
  update[#update + 1] = int(math.min((tonumber(string.match(was or '', '^(%d+)|')) or 0)
    + seen_here, 999)) .. '|' .. int(now_s)
  if not was then
    local nets, oldest, oldest_seen = 0, nil, nil
    for k, v in pairs(rec) do
      if string.sub(k, 1, 2) == 'w:' then
        nets = nets + 1
        local last = tonumber(string.match(v, '|(%d+)$')) or 0
        if not oldest_seen or last < oldest_seen then oldest, oldest_seen = k, last end
      end
    end
    if nets + 1 > tonumber(A.max_networks) and oldest then drop[#drop + 1] = oldest end
  end
end
if not rec.fs then update[#update + 1] = 'fs'; update[#update + 1] = int(now_s) end
if rec.ic then drop[#drop + 1] = 'ic' end
if #drop > 0 then redis.call('HDEL', K.record, unpack(drop)) end
redis.call('HSET', K.record, unpack(update))
redis.call('PEXPIRE', K.record, history_ms)

-- The sessions now live, for the shared-account and the elsewhere rules: each with the last
-- other place it was presented from (validate's place marks '@<CC>,' in field 11; '' none).
local flat = {}
for j = excess > 0 and excess + 1 or 1, #live do
  local s = live[j]
  local last_place = ''
  for p in string.gmatch(s[5] and s[5][11] or '', '@(%u%u),') do last_place = p end
  flat[#flat + 1] = s[1]; flat[#flat + 1] = s[2]; flat[#flat + 1] = s[3]
  flat[#flat + 1] = int(s[4]); flat[#flat + 1] = last_place
end
flat[#flat + 1] = rand; flat[#flat + 1] = country; flat[#flat + 1] = fp
flat[#flat + 1] = int(now); flat[#flat + 1] = ''

-- The events, and with a standalone server the global indexes: the user directory, the recent
-- users (trimmed to the most recent), and the expiry index (LT: a new session never expires
-- before the live ones, so the user's entry only moves down here; the sweep moves it up).
emit('login', user, tag .. rand, now, A.login_details)
for _, m in ipairs(evicted) do emit('session_evicted', user, tag .. m, now, A.evicted_details) end
for _, m in ipairs(expired) do emit('session_expired', user, tag .. m, now, EXPIRED) end
if K.events then
  if A.retention_ms ~= '' then
    redis.call('XTRIM', K.events, 'MINID', '~',
      int(math.max(now - tonumber(A.retention_ms), 0)) .. '-0')
  end
  redis.call('ZADD', K.expiry_index, 'LT', int(expiry), tag)
  redis.call('ZADD', K.directory, 0, user)
  redis.call('ZADD', K.recent_users, int(now), user)
  redis.call('ZREMRANGEBYRANK', K.recent_users, 0, -tonumber(A.recent_users_kept) - 1)
end

return {'ok', now, expiry, known_device and 1 or 0, devices_before, country_known,
  countries_before, previous, logins, flat, burst, profile, EVENTS.out}
