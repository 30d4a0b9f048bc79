-- A lease held by one owner at a time (the sweep of two daemons): acquire or renew it when
-- free or already ours, release it only if ours. The owner is a unique string per process.
-- KEYS (LeaseKeys in calls.py): the lease key.
-- ARGV (LeaseArgs): owner, lifetime ms, op ('acquire' or 'release').
-- Returns 1 when the caller holds the lease (acquire) or released it (release), else 0.

local K = named(KEYS, 'lease')
local A = named(ARGV, 'owner', 'ttl_ms', 'op')
local holder = redis.call('GET', K.lease)
if A.op == 'release' then
  if holder == A.owner then
    redis.call('DEL', K.lease)
    return 1
  end
  return 0
end
if holder == A.owner then
  redis.call('PEXPIRE', K.lease, A.ttl_ms)
  return 1
end
if not holder then
  redis.call('SET', K.lease, A.owner, 'PX', A.ttl_ms)
  return 1
end
return 0
