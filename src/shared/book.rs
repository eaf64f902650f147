//! One machine's books for one shared semaphore: which leases it holds and which it is asking
//! for. Pure. Leases are named (`machine|n`), so every operation on the server is idempotent:
//! taking a lease twice or giving back one it never had changes nothing, so a reply lost with
//! a connection can neither double-count nor lose a slot. The heartbeat re-asserts the held
//! leases (taken under the fallback too) and refreshes the ones being asked for only if the
//! server granted them; a lease nobody re-asserts expires with its TTL.

use std::collections::BTreeSet;

#[derive(Debug, Default)]
pub struct Book {
    /// Leases this machine holds: granted by the server, or admitted under the local cap while
    /// the server was out of reach (the next heartbeat registers them).
    held: BTreeSet<u64>,
    /// Asked for, no answer yet: the server may have granted them.
    pending: BTreeSet<u64>,
    next: u64,
    /// Requests of this machine waiting for a shared slot.
    pub waiting: u64,
}

impl Book {
    /// A fresh lease id, pending until [`Book::granted`], [`Book::fallback`] or
    /// [`Book::abandoned`].
    pub fn ask(&mut self) -> u64 {
        self.next += 1;
        self.pending.insert(self.next);
        self.next
    }

    pub fn granted(&mut self, id: u64) {
        self.pending.remove(&id);
        self.held.insert(id);
    }

    /// Admitted under this machine's cap alone; held all the same, so that when the server
    /// is back the group counts it.
    pub fn fallback(&mut self, id: u64) {
        self.granted(id);
    }

    /// Given up on before any grant was seen: the server is told to drop it too.
    pub fn abandoned(&mut self, id: u64) {
        self.pending.remove(&id);
    }

    /// Returns whether the lease was held.
    pub fn release(&mut self, id: u64) -> bool {
        self.held.remove(&id)
    }

    pub fn held(&self) -> impl Iterator<Item = u64> + '_ {
        self.held.iter().copied()
    }

    pub fn pending(&self) -> impl Iterator<Item = u64> + '_ {
        self.pending.iter().copied()
    }

    pub fn in_flight(&self) -> u64 {
        self.held.len() as u64
    }
}

/// The server's name for lease `id` of `machine`.
pub fn lease_name(machine: &str, id: u64) -> String {
    format!("{machine}|{id}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_lease_is_held_once_until_released_whatever_the_path() {
        let mut book = Book::default();
        let granted = book.ask();
        let fell_back = book.ask();
        let gave_up = book.ask();
        assert_eq!(book.pending().count(), 3);
        book.granted(granted);
        book.fallback(fell_back);
        book.abandoned(gave_up);
        assert_eq!(book.held().collect::<Vec<_>>(), [granted, fell_back]);
        assert_eq!(book.pending().count(), 0);
        assert!(book.release(granted));
        assert!(!book.release(granted), "released once");
        assert!(!book.release(gave_up), "never held");
        assert_eq!(book.in_flight(), 1);
        book.release(fell_back);
        assert_eq!(book.in_flight(), 0);
        let ids: BTreeSet<u64> = (0..100).map(|_| book.ask()).collect();
        assert_eq!(ids.len(), 100, "ids are never reused");
        assert_ne!(lease_name("a", 11), lease_name("a1", 1));
        assert_eq!(lease_name("laptop", 7), "laptop|7");
    }
}
