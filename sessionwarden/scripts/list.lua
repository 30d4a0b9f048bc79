-- A user's live sessions, most recently active first, with their device records, in one
-- round trip; members found dead are pruned and returned so the caller can report the expiry.
-- KEYS: 1 session index, 2 devices
-- ARGV: 1 key base, 2 now ('' = server time), 3 idle ms
-- Returns {now, sessions{rand, {field, value, ...}, ...}, devices{fingerprint, record, ...},
--          expired{}}

local base = ARGV[1]
local now = now_ms(ARGV[2])
local idle = tonumber(ARGV[3])
local sessions, devices, expired, seen = {}, {}, {}, {}
for _, m in ipairs(redis.call('ZREVRANGE', KEYS[1], 0, -1)) do
  local key = base .. 's:' .. m
  if alive(key, now, idle) then
    local fields = redis.call('HGETALL', key)
    sessions[#sessions + 1] = m
    sessions[#sessions + 1] = fields
    for j = 1, #fields, 2 do
      if fields[j] == 'd' and not seen[fields[j + 1]] then
        seen[fields[j + 1]] = true
        devices[#devices + 1] = fields[j + 1]
        devices[#devices + 1] = redis.call('HGET', KEYS[2], fields[j + 1]) or ''
      end
    end
  else
    redis.call('ZREM', KEYS[1], m)
    expired[#expired + 1] = m
  end
end
return {now, sessions, devices, expired}
