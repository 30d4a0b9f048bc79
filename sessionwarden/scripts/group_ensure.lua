-- Create the alert stream and a consumer group on it (reading from its first entry), unless
-- the group exists. Creating the stream is what makes finding.lua start writing alerts to it.
-- KEYS (GroupEnsureKeys in calls.py): the alert stream.
-- ARGV (GroupEnsureArgs): the group name.
-- Returns 1 when the group was created, 0 when it existed.

local K = named(KEYS, 'alerts')
local A = named(ARGV, 'group')
local made = redis.pcall('XGROUP', 'CREATE', K.alerts, A.group, '0', 'MKSTREAM')
if type(made) == 'table' and made.err then
  if string.find(tostring(made.err), 'BUSYGROUP', 1, true) then return 0 end
  return redis.error_reply(made.err)
end
return 1
