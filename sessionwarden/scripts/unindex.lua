-- Drop a user from the expiry index only if its score is still the one the sweep read: a sign-in
-- that raced the sweep has lowered (or re-added) the entry, and that entry must stay.
-- KEYS: 1 expiry index
-- ARGV: 1 member (user tag), 2 the score the sweep read
-- Returns 1 when removed, 0 when left.

local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
if score and tonumber(score) == tonumber(ARGV[2]) then
  return redis.call('ZREM', KEYS[1], ARGV[1])
end
return 0
