//! The server-side scripts: each decision about the shared semaphore is one atomic script, run
//! with the server's clock (`TIME`), so machines whose clocks differ still agree on expiry.
//!
//! Keys of one semaphore, under `redline:v1:<account>:<key hash>:`: `leases` (sorted set,
//! lease name → expiry ms), `wait` (sorted set, lease name → turn), `wexp` (waiter → expiry
//! ms), `cool` (present while the account cools down), `seq` (turn counter), `machines`
//! (instance → expiry ms), `queued` (instance → requests waiting there). Every key expires an
//! hour after its last use.

/// KEYS: leases, wait, wexp, cool, seq. ARGV: lease, cap, ttl_ms.
/// `{1, held}` granted; `{0, held}` wait (the lease now has its turn in `wait`); `{-1, ms}`
/// cooling down.
pub const ACQUIRE: &str = r#"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local lease, cap, ttl = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local stale = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', now)
for _, w in ipairs(stale) do redis.call('ZREM', KEYS[2], w) end
if #stale > 0 then redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now) end
local function wait()
  if not redis.call('ZSCORE', KEYS[2], lease) then
    redis.call('ZADD', KEYS[2], redis.call('INCR', KEYS[5]), lease)
  end
  redis.call('ZADD', KEYS[3], now + ttl, lease)
  -- wait, wexp and seq only: KEYS[4] is the cool-down, whose expiry is its meaning.
  for _, i in ipairs({2, 3, 5}) do redis.call('PEXPIRE', KEYS[i], 3600000) end
end
local cool = redis.call('PTTL', KEYS[4])
if cool > 0 then
  wait()
  return {-1, cool}
end
local held = redis.call('ZCARD', KEYS[1])
if redis.call('ZSCORE', KEYS[1], lease) then return {1, held} end
local ahead = redis.call('ZRANK', KEYS[2], lease)
if not ahead then ahead = redis.call('ZCARD', KEYS[2]) end
if cap - held > ahead then
  redis.call('ZADD', KEYS[1], now + ttl, lease)
  redis.call('PEXPIRE', KEYS[1], 3600000)
  redis.call('ZREM', KEYS[2], lease)
  redis.call('ZREM', KEYS[3], lease)
  return {1, held + 1}
end
wait()
return {0, held}
"#;

/// KEYS: leases, wait, wexp. ARGV: lease. Gives a lease back, or a place in line up; either
/// may be absent.
pub const RELEASE: &str = r#"
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[3], ARGV[1])
return 1
"#;

/// KEYS: leases, machines, queued. ARGV: instance, ttl_ms, queued here, number held, the held
/// leases, then the pending ones. Re-asserts the held leases (registering those taken while the
/// server was out of reach), refreshes the pending ones only if granted, publishes this
/// instance's waiting count. `{leases held in the group, requests queued in the group,
/// instances alive}`.
pub const HEARTBEAT: &str = r#"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl, n = tonumber(ARGV[2]), tonumber(ARGV[4])
for i = 5, 4 + n do redis.call('ZADD', KEYS[1], now + ttl, ARGV[i]) end
for i = 5 + n, #ARGV do redis.call('ZADD', KEYS[1], 'XX', now + ttl, ARGV[i]) end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
redis.call('ZADD', KEYS[2], now + ttl, ARGV[1])
redis.call('HSET', KEYS[3], ARGV[1], ARGV[3])
for _, m in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now)) do
  redis.call('HDEL', KEYS[3], m)
end
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
local queued = 0
for _, q in ipairs(redis.call('HVALS', KEYS[3])) do queued = queued + tonumber(q) end
for i = 1, 3 do redis.call('PEXPIRE', KEYS[i], 3600000) end
return {redis.call('ZCARD', KEYS[1]), queued, redis.call('ZCARD', KEYS[2])}
"#;

/// KEYS: cool. ARGV: ms. Holds the account's new requests for `ms`, unless already held longer.
pub const COOL_DOWN: &str = r#"
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[1]) then
  redis.call('SET', KEYS[1], '1', 'PX', ARGV[1])
end
return 1
"#;

pub const ALL: [&str; 4] = [ACQUIRE, RELEASE, HEARTBEAT, COOL_DOWN];
