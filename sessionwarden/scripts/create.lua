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

local owner = redis.call('HGET', KEYS[1], 'id')
if owner and owner ~= user then
  return redis.error_reply('SWCOLLISION two user ids share a key tag')
end

-- Prune: members whose key is gone expired on their own.
local expired, live = {}, {}
for _, m in ipairs(redis.call('ZRANGE', KEYS[2], 0, -1)) do
  if alive(base .. 's:' .. m, now, idle) then
    live[#live + 1] = m
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
    local m = live[j]
    local key = base .. 's:' .. m
    bury(base .. 'x:' .. m, key, now, 'evicted', tomb_ms)
    redis.call('DEL', key)
    redis.call('ZREM', KEYS[2], m)
    evicted[#evicted + 1] = m
  end
end

-- Detection inputs, read before this login changes them.
local known_device = redis.call('HGET', KEYS[3], fp)
local devices_before = redis.call('HLEN', KEYS[3])
local country_known = 0
if country ~= '' then country_known = redis.call('HEXISTS', KEYS[1], 'c:' .. country) end
local countries_before = tonumber(redis.call('HGET', KEYS[1], 'nc') or '0')
local previous = redis.call('HGET', KEYS[1], 'll') or ''

-- The session itself: its key expires on its own at min(now + idle, now + absolute).
local deadline = now + absolute
local expiry = math.min(now + idle, deadline)
local key = base .. 's:' .. rand
redis.call('HSET', key, 'h', hash, 'u', user, 'c', int(now), 'a', int(now),
  'e', int(deadline), 'ip', ip, 'd', fp, 'k', class_key)
if country ~= '' then redis.call('HSET', key, 'cc', country) end
if network ~= 'public' then redis.call('HSET', key, 'nw', network) end
if city ~= '' then redis.call('HSET', key, 'ct', city) end
redis.call('PEXPIRE', key, expiry - now)
redis.call('ZADD', KEYS[2], int(now), rand)
redis.call('PEXPIRE', KEYS[2], absolute)

-- Device record "<first seen>|<last seen>|<json>"; bounded by dropping the least recently seen
-- device that no live session uses (a live session always keeps its device record).
local first = now
if known_device then first = tonumber(string.match(known_device, '^(%d+)|')) or now end
redis.call('HSET', KEYS[3], fp, int(first) .. '|' .. int(now) .. '|' .. description)
if not known_device and devices_before + 1 > tonumber(ARGV[23]) then
  local in_use = {}
  for _, m in ipairs(redis.call('ZRANGE', KEYS[2], 0, -1)) do
    local used = redis.call('HGET', base .. 's:' .. m, 'd')
    if used then in_use[used] = true end
  end
  local oldest, oldest_seen = nil, nil
  local all = redis.call('HGETALL', KEYS[3])
  for j = 1, #all, 2 do
    local seen = tonumber(string.match(all[j + 1], '^%d+|(%d+)|')) or 0
    if not in_use[all[j]] and (not oldest_seen or seen < oldest_seen) then
      oldest, oldest_seen = all[j], seen
    end
  end
  if oldest then redis.call('HDEL', KEYS[3], oldest) end
end
redis.call('PEXPIRE', KEYS[3], history_ms)

-- User record: owner id, contact, last located login, countries seen. A login without
-- coordinates (a private address) leaves the last located one in place for the travel rule.
redis.call('HSET', KEYS[1], 'id', user)
if ARGV[19] ~= '' then
  redis.call('HSET', KEYS[1],
    'll', int(now) .. '|' .. ARGV[19] .. '|' .. ARGV[20] .. '|' .. country .. '|' .. ip)
end
if ARGV[21] ~= '' then redis.call('HSET', KEYS[1], 'em', ARGV[21]) end
if country ~= '' and country_known == 0 then
  redis.call('HSET', KEYS[1], 'c:' .. country, int(now))
  redis.call('HINCRBY', KEYS[1], 'nc', 1)
end
redis.call('PEXPIRE', KEYS[1], history_ms)

-- Sign-in times in the burst window: the user record's 'lt' keeps the last K + 1 of them,
-- which is all "more than K within the window" needs (no key of its own).
local window, threshold = tonumber(ARGV[22]), tonumber(ARGV[24])
local logins, burst = 0, 0
if threshold > 0 then
  local times = {}
  for t in string.gmatch(redis.call('HGET', KEYS[1], 'lt') or '', '%d+') do
    if tonumber(t) >= now - window then times[#times + 1] = t end
  end
  times[#times + 1] = int(now)
  while #times > threshold + 1 do table.remove(times, 1) end
  redis.call('HSET', KEYS[1], 'lt', table.concat(times, ','))
  logins = #times
  -- A burst is reported when the count first exceeds K; every sign-in while it lasts pushes
  -- 'bq' (quiet until) a window ahead, so a sustained run is one alert, and a new burst after
  -- a quiet window is another.
  if logins > threshold then
    if now >= tonumber(redis.call('HGET', KEYS[1], 'bq') or '0') then burst = 1 end
    redis.call('HSET', KEYS[1], 'bq', int(now + window))
  end
end

local summary = {}
for _, m in ipairs(redis.call('ZRANGE', KEYS[2], 0, -1, 'WITHSCORES')) do
  summary[#summary + 1] = m
end
local flat = {}
for j = 1, #summary, 2 do
  local f = redis.call('HMGET', base .. 's:' .. summary[j], 'cc', 'd')
  flat[#flat + 1] = summary[j]
  flat[#flat + 1] = f[1] or ''
  flat[#flat + 1] = f[2] or ''
  flat[#flat + 1] = summary[j + 1]
end

return {'ok', now, expiry, expired, evicted, known_device and 1 or 0, devices_before,
  country_known, countries_before, previous, logins, flat, burst}
