-- Sweep one user of the expiry index (the daemon's job): prune every dead session of the user's
-- index, reporting each exactly once (whoever removes an index entry reports it), and return
-- the earliest expiry of the sessions still live, the user's new score in the expiry index.
-- KEYS: 1 user record, with a standalone server 2 event stream (see events_to in _lib.lua)
-- ARGV: 1 key base, 2 now ('' = server time), 3 idle ms, 4 event stream MAXLEN
-- Returns {number of sessions expired, next expiry ms or -1 when no session is live, events{}}

local base = ARGV[1]
local now = now_ms(ARGV[2])
local idle = tonumber(ARGV[3])
if KEYS[2] then events_to(KEYS[2], ARGV[4]) end
local rec, indexed = read_user(KEYS[1])
local expired, next_expiry = {}, -1
for _, m in ipairs(indexed) do
  local live, _, a, e = alive(base .. 's:' .. m[1], now, idle)
  if live then
    local expiry = (a and e) and math.min(a + idle, e) or now + idle
    if next_expiry < 0 or expiry < next_expiry then next_expiry = expiry end
  else
    redis.call('HDEL', KEYS[1], 's:' .. m[1])
    expired[#expired + 1] = m[1]
    emit('session_expired', rec.id or '', tag_of(KEYS[1]) .. m[1], now, EXPIRED)
  end
end
return {#expired, next_expiry, EVENTS.out}
