-- Drop a user from the expiry index only if its score is still the one the sweep read: a sign-in
-- that raced the sweep has lowered (or re-added) the entry, and that entry must stay.
-- KEYS (UnindexKeys in calls.py): the expiry index.
-- ARGV (UnindexArgs): the member (a user tag) and the score the sweep read.
-- Returns 1 when removed, 0 when left.

local K = named(KEYS, 'expiry_index')
local A = named(ARGV, 'member', 'score')
local score = redis.call('ZSCORE', K.expiry_index, A.member)
if score and tonumber(score) == tonumber(A.score) then
  return redis.call('ZREM', K.expiry_index, A.member)
end
return 0
