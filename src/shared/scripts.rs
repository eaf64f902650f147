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

/// The scripts on a real `redis-server` (Debian's package, started here on a free loopback
/// port), called as the shared limits call them.
#[cfg(test)]
mod tests {
    use super::super::conn::Conn;
    use super::super::url::RedisUrl;
    use super::*;
    use std::process::{Child, Command, Stdio};
    use std::time::{Duration, Instant};

    struct Server(Child);

    impl Drop for Server {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }

    /// A fresh server and a connection with the scripts loaded.
    async fn server() -> (Server, Conn) {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .unwrap()
            .port();
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", ""])
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server runs (Debian's redis-server package; scripts/setup-linux.sh test installs it)");
        let server = Server(child);
        let url = RedisUrl::parse(&format!("redis://127.0.0.1:{port}")).unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            match Conn::open(&url, &Default::default(), &ALL, Duration::from_secs(2)).await {
                Ok(conn) => return (server, conn),
                Err(why) if Instant::now() > deadline => {
                    panic!("redis-server did not start: {why}")
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        }
    }

    const KEYS: [&str; 7] = ["l", "w", "we", "c", "s", "m", "q"];

    async fn call(conn: &Conn, script: usize, keys: &[&str], args: &[&str]) -> Vec<i64> {
        let count = keys.len().to_string();
        let mut command: Vec<&[u8]> =
            vec![b"EVALSHA", conn.shas[script].as_bytes(), count.as_bytes()];
        command.extend(keys.iter().chain(args).map(|a| a.as_bytes()));
        let reply = conn.call(&command).await.unwrap();
        reply
            .ints()
            .or_else(|| reply.as_int().map(|n| vec![n]))
            .unwrap_or_else(|| panic!("not numbers: {reply:?}"))
    }

    async fn acquire(conn: &Conn, lease: &str, cap: u64, ttl_ms: u64) -> Vec<i64> {
        let (cap, ttl) = (cap.to_string(), ttl_ms.to_string());
        call(conn, 0, &KEYS[..5], &[lease, &cap, &ttl]).await
    }

    async fn release(conn: &Conn, lease: &str) {
        call(conn, 1, &KEYS[..3], &[lease]).await;
    }

    async fn int(conn: &Conn, args: &[&str]) -> i64 {
        let args: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
        conn.call(&args).await.unwrap().as_int().unwrap()
    }

    #[tokio::test]
    async fn leases_are_granted_up_to_the_cap_then_in_turn() {
        let (_server, conn) = server().await;
        assert_eq!(acquire(&conn, "a|1", 2, 60_000).await, [1, 1]);
        assert_eq!(acquire(&conn, "a|2", 2, 60_000).await, [1, 2]);
        // Asked again after a lost reply: still one lease, not two.
        assert_eq!(acquire(&conn, "a|2", 2, 60_000).await, [1, 2]);
        assert_eq!(
            acquire(&conn, "b|1", 2, 60_000).await,
            [0, 2],
            "full: waits"
        );
        assert_eq!(acquire(&conn, "c|1", 2, 60_000).await, [0, 2]);
        release(&conn, "a|1").await;
        // A slot is free, but b asked first: c, asking again, stays in line.
        assert_eq!(acquire(&conn, "c|1", 2, 60_000).await, [0, 1]);
        assert_eq!(acquire(&conn, "b|1", 2, 60_000).await, [1, 2]);
        release(&conn, "a|2").await;
        assert_eq!(acquire(&conn, "c|1", 2, 60_000).await, [1, 2]);
        assert_eq!(int(&conn, &["ZCARD", "w"]).await, 0, "the line is empty");
        // A place in line given up leaves the line.
        assert_eq!(acquire(&conn, "d|1", 2, 60_000).await, [0, 2]);
        release(&conn, "d|1").await;
        assert_eq!(int(&conn, &["ZCARD", "w"]).await, 0);
        assert_eq!(int(&conn, &["ZCARD", "we"]).await, 0);
    }

    #[tokio::test]
    async fn a_lease_not_renewed_expires_and_frees_its_slot() {
        let (_server, conn) = server().await;
        assert_eq!(acquire(&conn, "dead|1", 1, 300).await, [1, 1]);
        assert_eq!(acquire(&conn, "b|1", 1, 60_000).await[0], 0);
        let asked = Instant::now();
        // The server's clock decides: ask until granted, within a deadline.
        loop {
            if acquire(&conn, "b|1", 1, 60_000).await[0] == 1 {
                break;
            }
            assert!(asked.elapsed() < Duration::from_secs(10), "never freed");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // A waiter that stops asking leaves the line when its own place expires.
        assert_eq!(acquire(&conn, "gone|1", 1, 300).await[0], 0);
        release(&conn, "b|1").await;
        loop {
            if acquire(&conn, "c|1", 1, 60_000).await[0] == 1 {
                break;
            }
            assert!(
                asked.elapsed() < Duration::from_secs(20),
                "the line never moved"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    #[tokio::test]
    async fn a_cool_down_holds_every_asker_and_keeps_its_own_expiry() {
        let (_server, conn) = server().await;
        call(&conn, 3, &["c"], &["60000"]).await;
        let held = acquire(&conn, "a|1", 5, 60_000).await;
        assert_eq!(held[0], -1);
        assert!((59_000..=60_000).contains(&held[1]), "{held:?}");
        // A shorter cool-down does not shorten it; asking does not stretch it (the keys'
        // hour-long expiry is not the cool key's).
        call(&conn, 3, &["c"], &["10"]).await;
        let left = int(&conn, &["PTTL", "c"]).await;
        assert!((59_000..=60_000).contains(&left), "{left}");
        // A longer one does.
        call(&conn, 3, &["c"], &["120000"]).await;
        assert!(int(&conn, &["PTTL", "c"]).await > 60_000);
        // Over: the one who waited longest is first.
        int(&conn, &["DEL", "c"]).await;
        assert_eq!(
            acquire(&conn, "b|1", 1, 60_000).await,
            [0, 0],
            "a|1 is ahead"
        );
        assert_eq!(acquire(&conn, "a|1", 1, 60_000).await, [1, 1]);
    }

    /// A heartbeat of `instance`, `waiting` requests in line there, leases `held` and `pending`.
    async fn beat(
        conn: &Conn,
        instance: &str,
        waiting: &str,
        held: &[&str],
        pending: &[&str],
    ) -> Vec<i64> {
        let count = held.len().to_string();
        let mut args = vec![instance, "60000", waiting, &count];
        args.extend(held);
        args.extend(pending);
        call(conn, 2, &["l", "m", "q"], &args).await
    }

    #[tokio::test]
    async fn the_heartbeat_renews_registers_and_counts_the_group() {
        let (_server, conn) = server().await;
        let [leases, machines, queued] = ["l", "m", "q"];
        assert_eq!(acquire(&conn, "a|1", 3, 60_000).await, [1, 1]);
        // Machine b took a lease while the server was out of reach: registered. A pending
        // one the server never granted is not.
        assert_eq!(beat(&conn, "b", "2", &["b|1"], &["b|2"]).await, [2, 2, 1]);
        assert_eq!(int(&conn, &["ZCARD", leases]).await, 2);
        // Machine a renews a|1, waits for nothing; the group is both.
        assert_eq!(beat(&conn, "a", "0", &["a|1"], &[]).await, [2, 2, 2]);
        // Every key it touched expires: nothing is left behind for good.
        for key in [leases, machines, queued] {
            let ttl = int(&conn, &["PTTL", key]).await;
            assert!((0..=3_600_000).contains(&ttl), "{key}: {ttl}");
        }
    }

    #[tokio::test]
    async fn a_silent_machine_leaves_the_group_with_its_waiting_count() {
        let (_server, conn) = server().await;
        let keys = ["l", "m", "q"];
        call(&conn, 2, &keys, &["quiet", "50", "4", "0"]).await;
        let since = Instant::now();
        loop {
            let group = call(&conn, 2, &keys, &["live", "60000", "1", "0"]).await;
            if group == [0, 1, 1] {
                break;
            }
            assert_eq!(group, [0, 5, 2], "until it expires, both count");
            assert!(since.elapsed() < Duration::from_secs(10), "never left");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}
