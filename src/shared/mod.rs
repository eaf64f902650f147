//! Limits shared across machines (`shared.redis_url`): one concurrency cap for a key used on
//! several machines, kept on a Redis (or Valkey) server. See docs/architecture.md "Shared
//! limits".
//!
//! A request that got a slot under this machine's cap (`proxy/queue.rs`) then takes a lease
//! on the account's shared semaphore before it leaves, and gives it back when its answer has
//! been relayed. Leases expire unless the machine holding them renews them (the heartbeat), so
//! a machine that dies frees its slots within [`LEASE_TTL`]. Waiting requests take turns in
//! the order they first asked, across machines. A concurrency or rate refusal with a
//! Retry-After holds the account's new requests on every machine until then.
//!
//! While the server is out of reach, requests go on under this machine's cap alone (the status
//! says so, amber), the connection is tried again with a back-off, and the leases taken
//! meanwhile are registered as soon as it is back (`book.rs`).
//!
//! The client is a small RESP client of Redline's own (`resp.rs`, `conn.rs`): the semaphore
//! needs a handful of commands on one pipelined connection, with reconnection and fallback
//! that are Redline's own decisions; the `redis` crate would bring a large dependency tree and
//! a reconnection policy of its own to work around.

mod auth;
mod book;
mod conn;
pub mod link;
pub mod resp;
mod scripts;
mod tls;
pub mod url;

pub use link::{Link, UNAVAILABLE};
pub use url::RedisUrl;

use book::{Book, lease_name};
use conn::Conn;
use link::{Backoff, Verdict, verdict};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};
use std::time::Duration;
use tokio::sync::{Notify, watch};
use tokio::time::Instant;

/// How long a lease lives without being renewed: a machine that dies frees its slots within it.
pub const LEASE_TTL: Duration = Duration::from_secs(6);
/// How often the leases are renewed (and the group's figures read).
const HEARTBEAT: Duration = Duration::from_secs(2);
/// Longest wait for one reply before the server counts as out of reach.
const REPLY_WITHIN: Duration = Duration::from_secs(2);
/// How often a waiting request asks again when no slot of this machine frees meanwhile.
const POLL: Duration = Duration::from_millis(20);

/// The group's figures for one account, as the last heartbeat read them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GroupView {
    /// Leases held across the group.
    pub in_flight: u64,
    /// Requests waiting across the group.
    pub queued: u64,
    /// Redline instances using this account now.
    pub machines: u64,
}

/// The shared limits of one Redline instance. Cheap to clone.
#[derive(Clone)]
pub struct SharedLimits {
    inner: Arc<Inner>,
}

struct Inner {
    url: RedisUrl,
    /// This machine's name, as the `machine` label shows it.
    machine: String,
    /// This instance's name on the server: the machine and the process.
    instance: String,
    conn: RwLock<Option<Arc<Conn>>>,
    link: watch::Sender<Link>,
    /// Per semaphore: the books and a bell rung when a lease here is given back.
    books: Mutex<HashMap<String, (Book, Arc<Notify>)>>,
    views: Mutex<HashMap<String, GroupView>>,
    /// Round trips to the server, for the benchmark.
    round_trips: std::sync::atomic::AtomicU64,
}

/// The name of an account's semaphore on the server: the account and a hash of its key, never
/// the key.
pub fn namespace(account: &str, key: &str) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(key.as_bytes());
    let hex: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
    format!("{account}:{hex}")
}

fn keys(ns: &str) -> [String; 7] {
    [
        "leases", "wait", "wexp", "cool", "seq", "machines", "queued",
    ]
    .map(|part| format!("redline:v1:{ns}:{part}"))
}

/// Why no lease was granted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NoLease {
    /// No slot freed up in the group before the deadline.
    TimedOut,
    /// The account cools down for this long yet, past the deadline: answered at once.
    CoolingDown(Duration),
}

/// A request's place under the shared cap, given back when dropped.
pub struct Lease {
    shared: SharedLimits,
    ns: String,
    id: u64,
}

impl std::fmt::Debug for Lease {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lease").field("ns", &self.ns).finish()
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.shared.give_back(&self.ns, self.id);
    }
}

/// A lease being asked for; dropped before it is granted (the request timed out or its client
/// hung up) it leaves the line and drops any grant the server made meanwhile.
struct Asking {
    shared: SharedLimits,
    ns: String,
    id: u64,
    waiting: bool,
    done: bool,
}

impl Asking {
    fn finish(mut self, fallback: bool) -> Lease {
        self.done = true;
        let mut books = self.shared.inner.books();
        if let Some((book, _)) = books.get_mut(&self.ns) {
            if self.waiting {
                book.waiting -= 1;
            }
            if fallback {
                book.fallback(self.id);
            } else {
                book.granted(self.id);
            }
        }
        Lease {
            shared: self.shared.clone(),
            ns: self.ns.clone(),
            id: self.id,
        }
    }

    fn set_waiting(&mut self) {
        if !self.waiting {
            self.waiting = true;
            if let Some((book, _)) = self.shared.inner.books().get_mut(&self.ns) {
                book.waiting += 1;
            }
        }
    }
}

impl Drop for Asking {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        let mut books = self.shared.inner.books();
        if let Some((book, _)) = books.get_mut(&self.ns) {
            if self.waiting {
                book.waiting -= 1;
            }
            book.abandoned(self.id);
        }
        self.shared.send_release(&self.ns, self.id);
    }
}

impl SharedLimits {
    /// Starts keeping the connection to `url` (at once, in the background). `machine` names
    /// this machine in the status and metrics.
    pub fn start(url: RedisUrl, machine: String) -> SharedLimits {
        let instance = format!("{machine}/{}", std::process::id());
        let shared = SharedLimits {
            inner: Arc::new(Inner {
                url,
                machine,
                instance,
                conn: RwLock::new(None),
                link: watch::channel(Link::Down {
                    reason: "connecting".into(),
                })
                .0,
                books: Mutex::default(),
                views: Mutex::default(),
                round_trips: Default::default(),
            }),
        };
        tokio::spawn(supervise(Arc::downgrade(&shared.inner)));
        shared
    }

    /// Whether `other` is this same instance (not another one on the same server).
    pub fn is(&self, other: &SharedLimits) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }

    /// This machine's name, for the `machine` label.
    pub fn machine(&self) -> &str {
        &self.inner.machine
    }

    pub fn link(&self) -> watch::Receiver<Link> {
        self.inner.link.subscribe()
    }

    /// The server's URL, its password masked.
    pub fn url(&self) -> String {
        self.inner.url.masked()
    }

    /// The group's figures for `ns` (`None` before the first heartbeat).
    pub fn view(&self, ns: &str) -> Option<GroupView> {
        lock(&self.inner.views).get(ns).copied()
    }

    /// (leases held here, requests waiting here) for `ns`.
    pub fn here(&self, ns: &str) -> (u64, u64) {
        self.inner
            .books()
            .get(ns)
            .map_or((0, 0), |(book, _)| (book.in_flight(), book.waiting))
    }

    /// Round trips made to the server so far.
    pub fn round_trips(&self) -> u64 {
        self.inner
            .round_trips
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    fn conn(&self) -> Option<Arc<Conn>> {
        let conn = self
            .inner
            .conn
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        conn.filter(|c| !c.is_closed())
    }

    fn counted(&self) {
        self.inner
            .round_trips
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    /// A lease on `ns`'s semaphore of `cap` slots, waiting for one until `deadline`; a
    /// cool-down that ends after `deadline` is refused at once. While the server is out of
    /// reach the lease is granted at once: this machine's own cap, already taken, is the limit
    /// then.
    pub async fn acquire(&self, ns: &str, cap: u64, deadline: Instant) -> Result<Lease, NoLease> {
        let (id, bell) = {
            let mut books = self.inner.books();
            let (book, bell) = books.entry(ns.to_owned()).or_default();
            (book.ask(), bell.clone())
        };
        let mut asking = Asking {
            shared: self.clone(),
            ns: ns.to_owned(),
            id,
            waiting: false,
            done: false,
        };
        let lease = lease_name(&self.inner.instance, id);
        let [leases, wait, wexp, cool, seq, ..] = keys(ns);
        let cap = cap.to_string();
        let ttl = LEASE_TTL.as_millis().to_string();
        loop {
            let Some(conn) = self.conn() else {
                return Ok(asking.finish(true));
            };
            // Registered before asking, so a lease given back meanwhile is not missed.
            let rung = bell.notified();
            tokio::pin!(rung);
            rung.as_mut().enable();
            self.counted();
            let reply = tokio::time::timeout(
                REPLY_WITHIN,
                conn.request(&[
                    b"EVALSHA",
                    conn.shas[0].as_bytes(),
                    b"5",
                    leases.as_bytes(),
                    wait.as_bytes(),
                    wexp.as_bytes(),
                    cool.as_bytes(),
                    seq.as_bytes(),
                    lease.as_bytes(),
                    cap.as_bytes(),
                    ttl.as_bytes(),
                ]),
            )
            .await;
            let decided = match &reply {
                Ok(Ok(reply)) => reply.ints().as_deref().and_then(verdict),
                _ => None,
            };
            let pause = match decided {
                None => {
                    let why = match reply {
                        Err(_) => "no reply in time".to_owned(),
                        Ok(Err(why)) => why,
                        Ok(Ok(other)) => format!("an unexpected reply {other:?}"),
                    };
                    conn.close(&why);
                    return Ok(asking.finish(true));
                }
                Some(Verdict::Granted) => return Ok(asking.finish(false)),
                Some(Verdict::Wait) => POLL,
                // Holding the request past its deadline would only delay the same refusal.
                Some(Verdict::CoolingDown(left)) if Instant::now() + left > deadline => {
                    return Err(NoLease::CoolingDown(left));
                }
                Some(Verdict::CoolingDown(left)) => left,
            };
            asking.set_waiting();
            let now = Instant::now();
            if now >= deadline {
                return Err(NoLease::TimedOut);
            }
            let until = (now + pause).min(deadline);
            tokio::select! {
                () = rung => {}
                () = tokio::time::sleep_until(until) => {}
            }
        }
    }

    /// Holds `ns`'s new requests on every machine for `wait` (a provider's Retry-After on a
    /// concurrency or rate refusal).
    pub fn cool_down(&self, ns: &str, wait: Duration) {
        let Some(conn) = self.conn() else { return };
        let ms = wait.as_millis().max(1).to_string();
        let cool = &keys(ns)[3];
        self.counted();
        conn.send(&[
            b"EVALSHA",
            conn.shas[3].as_bytes(),
            b"1",
            cool.as_bytes(),
            ms.as_bytes(),
        ]);
    }

    fn give_back(&self, ns: &str, id: u64) {
        let bell = {
            let mut books = self.inner.books();
            let Some((book, bell)) = books.get_mut(ns) else {
                return;
            };
            book.release(id);
            // Under the books' lock, so it goes out in order with the heartbeat's list.
            self.send_release(ns, id);
            bell.clone()
        };
        bell.notify_waiters();
    }

    /// Tells the server a lease (or a place in line) is given up; not waited for. Called
    /// under the books' lock.
    fn send_release(&self, ns: &str, id: u64) {
        let Some(conn) = self.conn() else { return };
        let [leases, wait, wexp, ..] = keys(ns);
        let lease = lease_name(&self.inner.instance, id);
        self.counted();
        conn.send(&[
            b"EVALSHA",
            conn.shas[1].as_bytes(),
            b"3",
            leases.as_bytes(),
            wait.as_bytes(),
            wexp.as_bytes(),
            lease.as_bytes(),
        ]);
    }

    /// Renews every lease held here, registers those taken while the server was out of reach,
    /// publishes this instance's waiting counts and reads the group's figures.
    async fn heartbeat(&self, conn: &Conn) -> Result<(), String> {
        let ttl = LEASE_TTL.as_millis().to_string();
        let replies: Vec<_> = {
            let books = self.inner.books();
            books
                .iter()
                .map(|(ns, (book, _))| {
                    let [leases, .., machines, queued] = keys(ns);
                    let held: Vec<String> = book
                        .held()
                        .map(|id| lease_name(&self.inner.instance, id))
                        .collect();
                    let pending = book
                        .pending()
                        .map(|id| lease_name(&self.inner.instance, id));
                    let waiting = book.waiting.to_string();
                    let count = held.len().to_string();
                    let mut args: Vec<String> = vec![
                        "EVALSHA".into(),
                        conn.shas[2].clone(),
                        "3".into(),
                        leases,
                        machines,
                        queued,
                        self.inner.instance.clone(),
                        ttl.clone(),
                        waiting,
                        count,
                    ];
                    args.extend(held);
                    args.extend(pending);
                    let args: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
                    self.counted();
                    (ns.clone(), conn.request(&args))
                })
                .collect()
        };
        for (ns, reply) in replies {
            let reply = tokio::time::timeout(REPLY_WITHIN, reply)
                .await
                .map_err(|_| "no reply in time".to_owned())??;
            if let Some([in_flight, queued, machines]) = reply.ints().as_deref().map(|v| {
                let mut three = [0u64; 3];
                for (slot, n) in three.iter_mut().zip(v) {
                    *slot = (*n).max(0) as u64;
                }
                three
            }) {
                lock(&self.inner.views).insert(
                    ns,
                    GroupView {
                        in_flight,
                        queued,
                        machines,
                    },
                );
            }
        }
        Ok(())
    }
}

impl Inner {
    fn books(&self) -> MutexGuard<'_, HashMap<String, (Book, Arc<Notify>)>> {
        lock(&self.books)
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Keeps a connection to the server while this instance lives: connects, renews the leases
/// every [`HEARTBEAT`], and after a failure goes on under the local cap and tries again after
/// a back-off.
async fn supervise(inner: std::sync::Weak<Inner>) {
    let mut backoff = Backoff::new(Duration::from_millis(200), Duration::from_secs(5));
    loop {
        let Some(shared) = inner.upgrade().map(|inner| SharedLimits { inner }) else {
            return;
        };
        let auth = auth::Auth::for_url(&shared.inner.url).await;
        let why = match Conn::open(&shared.inner.url, &auth, &scripts::ALL, REPLY_WITHIN).await {
            Err(why) => why,
            Ok(conn) => {
                let conn = Arc::new(conn);
                // The leases taken meanwhile are registered before any new one is asked for.
                match shared.heartbeat(&conn).await {
                    Err(why) => why,
                    Ok(()) => {
                        backoff.succeeded();
                        *shared
                            .inner
                            .conn
                            .write()
                            .unwrap_or_else(PoisonError::into_inner) = Some(conn.clone());
                        shared.inner.link.send_replace(Link::Up);
                        eprintln!(
                            "redline: shared limits: connected to {}",
                            shared.inner.url.masked()
                        );
                        let Some(why) = keep(&shared, &conn).await else {
                            eprintln!(
                                "redline: shared limits: no longer using {}",
                                shared.inner.url.masked()
                            );
                            return;
                        };
                        *shared
                            .inner
                            .conn
                            .write()
                            .unwrap_or_else(PoisonError::into_inner) = None;
                        why
                    }
                }
            }
        };
        let wait = backoff.failed();
        // Said once per cause: when the link goes down, and when the reason changes (a
        // certificate not trusted, a refused password), not at every attempt.
        let news = match &*shared.inner.link.borrow() {
            Link::Up => true,
            Link::Down { reason } => *reason != why,
        };
        if news {
            eprintln!("redline: shared limits: {why}; using this machine's cap meanwhile");
        }
        shared.inner.link.send_replace(Link::Down { reason: why });
        drop(shared);
        tokio::time::sleep(wait).await;
    }
}

/// Renews the leases until the connection fails (returns why it did) or nothing uses this
/// instance any more (the setting changed and its last lease was given back: `None`).
async fn keep(shared: &SharedLimits, conn: &Conn) -> Option<String> {
    loop {
        tokio::select! {
            why = conn.closed() => return Some(why),
            () = tokio::time::sleep(HEARTBEAT) => {
                if Arc::strong_count(&shared.inner) == 1 {
                    return None;
                }
                if let Err(why) = shared.heartbeat(conn).await {
                    conn.close(&why);
                    return Some(why);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespaces_name_the_account_and_hash_the_key() {
        let key = "sk-kimi-0123456789abcdefghijklmnopqrstuv";
        let ns = namespace("kimi-main", key);
        assert!(ns.starts_with("kimi-main:"), "{ns}");
        assert_eq!(ns.len(), "kimi-main:".len() + 16);
        assert!(!ns.contains("0123456789"));
        assert_eq!(ns, namespace("kimi-main", key), "the same on every machine");
        assert_ne!(
            ns,
            namespace("kimi-main", "sk-kimi-another-key-0000000000000000")
        );
        assert_ne!(ns, namespace("kimi-other", key));
    }
}
