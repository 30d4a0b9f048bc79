-- Create a session atomically: prune expired members of the user's index, enforce the session
-- limit (evict the least recently active, or deny), write the session with its own expiry,
-- record the device and login history, and return what the detection rules need.
--
-- KEYS: 1 user record, 2 session index, 3 devices
-- ARGV: 1 key base, 2 new rand, 3 user id, 4 token hash, 5 now ('' = server time),
--       6 idle ms, 7 absolute ms, 8 max sessions, 9 on limit ('evict'|'deny'), 10 tombstone ms,
--       11 history ms, 12 fingerprint, 13 class key, 14 device description, 15 ip, 16 country,
--       17 network kind, 18 city, 19 lat, 20 lon, 21 email, 22 burst window ms, 23 max devices,
--       24 burst threshold K (more than K sign-ins in the window is a burst; 0 = rule off)
-- Returns {'ok', now, expiry, expired{}, evicted{}, known device, devices before,
--          country known, countries before, previous login, logins in window, live{},
--          burst started (1|0)}
--      or {'denied', now, expired{}} when the limit is reached with on_limit = 'deny'.
--      live = flat {rand, country, fingerprint, last active, ...} of the sessions now live.

local base, rand, user, hash = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local now = now_ms(ARGV[5])
local idle, absolute = tonumber(ARGV[6]), tonumber(ARGV[7])
local limit, tomb_ms, history_ms = tonumber(ARGV[8]), tonumber(ARGV[10]), tonumber(ARGV[11])
local fp, class_key, description = ARGV[12], ARGV[13], ARGV[14]
local ip, country, network, city = ARGV[15], ARGV[16], ARGV[17], ARGV[18]
local window, threshold = tonumber(ARGV[22]), tonumber(ARGV[24])

-- Everything this login needs from the user record, in one read.
local country_field = country ~= '' and 'c:' .. country or 'c:-'
local rec = redis.call('HMGET', KEYS[1], 'id', 'nc', 'll', 'lt', 'bq', country_field, 'li')
if rec[1] and rec[1] ~= user then
  return redis.error_reply('SWCOLLISION two user ids share a key tag')
end
local countries_before = tonumber(rec[2] or '0') or 0
local previous = rec[3] and (rec[3] .. '|' .. (rec[7] or '')) or ''
local country_known = (country ~= '' and rec[6]) and 1 or 0

-- Prune: members whose key is gone (or dead by its fields) expired on their own. One read per
-- member also gives what eviction and the detection summary need.
local expired, live = {}, {}
for _, m in ipairs(redis.call('ZRANGE', KEYS[2], 0, -1)) do
  local ok, r, a = alive(base .. 's:' .. m, now, idle)
  if ok then
    -- a corrupt record (r = nil) stays, for the reader to report
    live[#live + 1] = {m, r and r[5] or '', r and r[8] or '', a or now, r}
  else
    redis.call('ZREM', KEYS[2], m)
    expired[#expired + 1] = m
  end
end

-- Limit: the index is ordered by last activity, so the first members are the least recent.
local evicted = {}
local excess = #live - limit + 1
if excess > 0 then
  if ARGV[9] == 'deny' then
    return {'denied', now, expired}
  end
  for j = 1, excess do
    local s = live[j]
    bury(base .. 'x:' .. s[1], s[5], now, 'evicted', tomb_ms)
    redis.call('DEL', base .. 's:' .. s[1])
    redis.call('ZREM', KEYS[2], s[1])
    evicted[#evicted + 1] = s[1]
  end
end

-- The session itself: its key expires on its own at min(now + idle, now + absolute).
local deadline = now + absolute
local expiry = math.min(now + idle, deadline)
redis.call('SET', base .. 's:' .. rand, write_session({h = hash, int(now), int(now),
  int(deadline), ip, country, network ~= 'public' and network or '', city, fp, class_key, '',
  user}), 'PX', expiry - now)
redis.call('ZADD', KEYS[2], int(now), rand)
redis.call('PEXPIRE', KEYS[2], absolute)

-- Two fields per device, each short enough for Redis to keep the hash in its compact listpack
-- encoding (values of at most 64 bytes by default; one longer value would triple the hash):
-- <fp> = "<first seen s>|<last seen s>|<last country>|<last ip>", rewritten at each sign-in, and
-- <fp>:d = the description, written once (the fingerprint is a hash of what it describes).
-- Bounded by dropping the least recently seen device that no live session uses.
local known_device = redis.call('HGET', KEYS[3], fp)
local devices_before = math.floor(redis.call('HLEN', KEYS[3]) / 2)
local now_s = math.floor(now / 1000)
local first = now_s
if known_device then first = tonumber(string.match(known_device, '^(%d+)|')) or now_s end
local seen = int(first) .. '|' .. int(now_s) .. '|' .. country .. '|' .. ip
if known_device then
  redis.call('HSET', KEYS[3], fp, seen)
else
  redis.call('HSET', KEYS[3], fp, seen, fp .. ':d', description)
end
if not known_device and devices_before + 1 > tonumber(ARGV[23]) then
  local in_use = {[fp] = true}
  for j = excess > 0 and excess + 1 or 1, #live do in_use[live[j][3]] = true end
  local oldest, oldest_seen = nil, nil
  local all = redis.call('HGETALL', KEYS[3])
  for j = 1, #all, 2 do
    local last = tonumber(string.match(all[j + 1], '^%d+|(%d+)|')) or 0
    if string.sub(all[j], -2) ~= ':d' and not in_use[all[j]]
        and (not oldest_seen or last < oldest_seen) then
      oldest, oldest_seen = all[j], last
    end
  end
  if oldest then redis.call('HDEL', KEYS[3], oldest, oldest .. ':d') end
end
redis.call('PEXPIRE', KEYS[3], history_ms)

-- User record: owner id, contact, last located login (a login without coordinates leaves it
-- for the travel rule), countries seen, and the sign-in times of the burst window: the last
-- K + 1 of them are all "more than K within the window" needs.
local update = {'id', user}
if ARGV[19] ~= '' then
  -- the address in a field of its own: with an IPv6 address one value would pass the 64
  -- bytes up to which Redis keeps the hash compact
  update[#update + 1] = 'll'
  update[#update + 1] = int(now) .. '|' .. ARGV[19] .. '|' .. ARGV[20] .. '|' .. country
  update[#update + 1] = 'li'; update[#update + 1] = ip
end
if ARGV[21] ~= '' then update[#update + 1] = 'em'; update[#update + 1] = ARGV[21] end
if country ~= '' and country_known == 0 then
  update[#update + 1] = country_field; update[#update + 1] = int(now)
  update[#update + 1] = 'nc'; update[#update + 1] = int(countries_before + 1)
end
local logins, burst = 0, 0
if threshold > 0 then
  local times = {}
  for t in string.gmatch(rec[4] or '', '%d+') do
    if tonumber(t) >= now - window then times[#times + 1] = t end
  end
  times[#times + 1] = int(now)
  while #times > threshold + 1 do table.remove(times, 1) end
  update[#update + 1] = 'lt'; update[#update + 1] = table.concat(times, ',')
  logins = #times
  -- A burst is reported when the count first exceeds K; every sign-in while it lasts pushes
  -- 'bq' (quiet until) a window ahead, so a sustained run is one alert, and a new burst after
  -- a quiet window is another.
  if logins > threshold then
    if now >= (tonumber(rec[5] or '0') or 0) then burst = 1 end
    update[#update + 1] = 'bq'; update[#update + 1] = int(now + window)
  end
end
redis.call('HSET', KEYS[1], unpack(update))
redis.call('PEXPIRE', KEYS[1], history_ms)

-- The sessions now live, for the shared-account rule.
local flat = {}
for j = excess > 0 and excess + 1 or 1, #live do
  local s = live[j]
  flat[#flat + 1] = s[1]; flat[#flat + 1] = s[2]; flat[#flat + 1] = s[3]
  flat[#flat + 1] = int(s[4])
end
flat[#flat + 1] = rand; flat[#flat + 1] = country; flat[#flat + 1] = fp
flat[#flat + 1] = int(now)

return {'ok', now, expiry, expired, evicted, known_device and 1 or 0, devices_before,
  country_known, countries_before, previous, logins, flat, burst}
