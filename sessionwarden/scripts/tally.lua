-- Add to the console's totals (see tally in _lib.lua): what the scripts add themselves on a
-- standalone server, run by the library after them on a Cluster, and for alerts (detection
-- findings are written by the library) everywhere.
-- KEYS (TallyKeys in calls.py): the stats hash.
-- ARGV (TallyArgs): now '' = server time; live: change of the live-session count; logins and
--   alerts: how many to add to the current minute's slots.
-- Returns 1.

local K = named(KEYS, 'stats')
local A = named(ARGV, 'now', 'live', 'logins', 'alerts')
tally(K.stats, now_ms(A.now), tonumber(A.live), tonumber(A.logins), tonumber(A.alerts))
return 1
