-- Trim the alert stream by age, never past an entry a consumer group still needs: the bound is
-- the lowest of the age cutoff, each group's oldest pending (delivered, unacknowledged) entry
-- and each group's last-delivered id (entries after it were never read). Without any group
-- nothing is trimmed (nobody has read anything). Atomic, so no read can slip in between.
-- KEYS (TrimAlertsKeys in calls.py): the alert stream.
-- ARGV (TrimAlertsArgs): the age cutoff as a stream id '<ms>-0'.
-- Returns {entries trimmed, the bound used ('' when nothing could be trimmed)}.

local K = named(KEYS, 'alerts')
local A = named(ARGV, 'cutoff')

local function parse(id)
  local ms, seq = string.match(id, '^(%d+)-(%d+)$')
  return tonumber(ms), tonumber(seq)
end

local function lower(a, b)
  local am, as = parse(a)
  local bm, bs = parse(b)
  if am < bm or (am == bm and as < bs) then return a end
  return b
end

if redis.call('EXISTS', K.alerts) == 0 then return {0, ''} end
local groups = redis.call('XINFO', 'GROUPS', K.alerts)
if #groups == 0 then return {0, ''} end
local bound = A.cutoff
for _, g in ipairs(groups) do
  local info = {}
  for i = 1, #g, 2 do info[g[i]] = g[i + 1] end
  bound = lower(bound, info['last-delivered-id'])
  local pending = redis.call('XPENDING', K.alerts, info['name'])
  if pending[2] then bound = lower(bound, pending[2]) end
end
local trimmed = redis.call('XTRIM', K.alerts, 'MINID', bound)
return {trimmed, bound}
