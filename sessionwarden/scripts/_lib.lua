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

-- A session key is alive when it exists and, by its own fields, is neither idle for `idle` ms
-- nor past its absolute deadline. A key that Redis has not yet expired but is dead by its fields
-- (a caller clock ahead of the server) is deleted here. A key whose fields do not parse is
-- reported as alive so the caller sees it and reports it as corrupt, instead of losing it.
-- Also returns the activity and deadline it read (nil when they do not parse).
local function alive(key, now, idle)
  local f = redis.call('HMGET', key, 'a', 'e')
  local a, e = tonumber(f[1]), tonumber(f[2])
  if a and e then
    if now >= e or now - a >= idle then
      redis.call('DEL', key)
      return false, a, e
    end
    return true, a, e
  end
  return redis.call('EXISTS', key) == 1, a, e
end

-- Tombstone of a session about to be revoked or evicted, read from the session itself: its
-- 32-byte token hash (fixed width, so the hash may hold any byte), one report flag ('0' not yet
-- reported, '1' reported as used by the same kind of device, '2' by another kind), the
-- session's 8-character device-class key, then "<ms>|<reason>". Kept `ttl` ms for the
-- revoked_token_used rule.
local function bury_fields(tomb_key, hash, class, now, reason, ttl)
  if hash then
    class = string.sub((class or '') .. '--------', 1, 8)
    redis.call('SET', tomb_key, hash .. '0' .. class .. int(now) .. '|' .. reason, 'PX', ttl)
  end
end

local function bury(tomb_key, session_key, now, reason, ttl)
  local f = redis.call('HMGET', session_key, 'h', 'k')
  bury_fields(tomb_key, f[1], f[2], now, reason, ttl)
end
