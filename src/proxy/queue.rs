//! Redline's queue: with a concurrency cap set for an account, requests beyond it wait their
//! turn here (first come, first served: tokio's semaphore is fair) instead of being sent on to
//! be refused by the provider. The queue is bounded in length and in waiting time.

use super::answers::QueueRefusal;
use crate::keys::account_id::AccountId;
use crate::proxy::traffic::Traffic;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// One account's slots.
struct Lane {
    cap: u64,
    slots: Arc<Semaphore>,
    waiting: Mutex<usize>,
}

pub struct Queues {
    lanes: Mutex<HashMap<AccountId, Arc<Lane>>>,
    bounds: Bounds,
    /// Told how many requests wait, per account.
    traffic: Arc<Traffic>,
}

/// How long a line may grow, and how long a request may wait in it.
#[derive(Clone, Copy, Debug)]
pub struct Bounds {
    /// Most requests waiting per account; more are refused at once.
    pub max_len: usize,
    pub max_wait: Duration,
}

/// A place in flight under the cap, held until the answer has been relayed.
pub type Slot = OwnedSemaphorePermit;

impl Queues {
    pub fn new(bounds: Bounds, traffic: Arc<Traffic>) -> Queues {
        Queues {
            lanes: Mutex::default(),
            bounds,
            traffic,
        }
    }

    /// Keeps the lanes whose cap is unchanged, so the requests in flight still count against
    /// them. A lane whose cap changed starts afresh: until the requests admitted under the old
    /// cap end, the account may briefly have both in flight.
    pub fn retain(&self, caps: &HashMap<AccountId, u64>) {
        lock(&self.lanes).retain(|id, lane| caps.get(id) == Some(&lane.cap));
    }

    fn lane(&self, account: &AccountId, cap: u64) -> Arc<Lane> {
        let mut lanes = lock(&self.lanes);
        let lane = lanes
            .entry(account.clone())
            .or_insert_with(|| new_lane(cap));
        if lane.cap != cap {
            *lane = new_lane(cap);
        }
        lane.clone()
    }

    /// A slot for a request to `account`: at once when one is free or there is no cap (`0`),
    /// else after waiting in line (refused when the line is full or the wait too long). While
    /// it waits, `meanwhile` runs (the caller reads the request body ahead, which also lets the
    /// server notice a client that hangs up).
    pub async fn admit(
        &self,
        account: &AccountId,
        cap: u64,
        meanwhile: impl Future<Output = ()>,
    ) -> Result<Option<Slot>, QueueRefusal> {
        if cap == 0 {
            return Ok(None);
        }
        let lane = self.lane(account, cap);
        if let Ok(slot) = lane.slots.clone().try_acquire_owned() {
            return Ok(Some(slot));
        }
        let _place = Waiting::join(&lane, &self.traffic, account, self.bounds.max_len)?;
        let max_wait = self.bounds.max_wait;
        let acquire = tokio::time::timeout(max_wait, lane.slots.clone().acquire_owned());
        tokio::pin!(acquire);
        let meanwhile = async {
            meanwhile.await;
            std::future::pending::<()>().await
        };
        tokio::select! {
            biased;
            acquired = &mut acquire => match acquired {
                Ok(Ok(slot)) => Ok(Some(slot)),
                // The semaphore is never closed; a timeout is the only way out.
                _ => Err(QueueRefusal::TimedOut { waited: max_wait }),
            },
            () = meanwhile => unreachable!("`meanwhile` never ends"),
        }
    }
}

fn new_lane(cap: u64) -> Arc<Lane> {
    let permits = usize::try_from(cap)
        .unwrap_or(usize::MAX)
        .min(Semaphore::MAX_PERMITS);
    Arc::new(Lane {
        cap,
        slots: Arc::new(Semaphore::new(permits)),
        waiting: Mutex::new(0),
    })
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A place in line; leaving it (admitted, timed out, or the client gone) updates the count the
/// traffic shows.
struct Waiting<'a> {
    lane: &'a Lane,
    traffic: &'a Traffic,
    account: &'a AccountId,
}

impl<'a> Waiting<'a> {
    fn join(
        lane: &'a Lane,
        traffic: &'a Traffic,
        account: &'a AccountId,
        max_len: usize,
    ) -> Result<Waiting<'a>, QueueRefusal> {
        let mut waiting = lock(&lane.waiting);
        if *waiting >= max_len {
            return Err(QueueRefusal::Full { waiting: *waiting });
        }
        *waiting += 1;
        // Under the lane's lock, so that concurrent changes reach the traffic in order.
        traffic.set_queued(account, *waiting as u64);
        Ok(Waiting {
            lane,
            traffic,
            account,
        })
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        let mut waiting = lock(&self.lane.waiting);
        *waiting -= 1;
        self.traffic.set_queued(self.account, *waiting as u64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id() -> AccountId {
        "kimi-main".parse().unwrap()
    }

    const WAIT: Duration = Duration::from_secs(60);

    fn queues(max_len: usize) -> (Arc<Queues>, Arc<Traffic>) {
        let traffic = Traffic::new();
        let bounds = Bounds {
            max_len,
            max_wait: WAIT,
        };
        (Arc::new(Queues::new(bounds, traffic.clone())), traffic)
    }

    #[tokio::test(start_paused = true)]
    async fn no_cap_admits_everything_at_once() {
        let (queues, _) = queues(1);
        for _ in 0..100 {
            let slot = queues.admit(&id(), 0, async {}).await;
            assert!(slot.unwrap().is_none());
        }
    }

    #[tokio::test(start_paused = true)]
    async fn waiting_requests_are_admitted_in_order_as_slots_free() {
        let (queues, traffic) = queues(10);
        let first = queues.admit(&id(), 1, async {}).await;
        let first = first.unwrap().unwrap();
        let (order_tx, mut order_rx) = tokio::sync::mpsc::unbounded_channel();
        let mut tasks = Vec::new();
        for n in 0..3 {
            let (queues, order_tx) = (queues.clone(), order_tx.clone());
            tasks.push(tokio::spawn(async move {
                let slot = queues.admit(&id(), 1, async {}).await;
                order_tx.send(n).unwrap();
                drop(slot);
            }));
            // Let each one join the line before the next.
            tokio::task::yield_now().await;
        }
        tokio::task::yield_now().await;
        assert_eq!(traffic.summary(&id()).queued, 3);
        drop(first);
        for task in tasks {
            task.await.unwrap();
        }
        let order: Vec<_> = std::iter::from_fn(|| order_rx.try_recv().ok()).collect();
        assert_eq!(order, [0, 1, 2]);
        assert_eq!(traffic.summary(&id()).queued, 0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_full_line_and_a_long_wait_are_refused() {
        let (queues, traffic) = queues(1);
        let _held = queues.admit(&id(), 1, async {}).await;
        let waiter = {
            let queues = queues.clone();
            tokio::spawn(async move {
                let started = tokio::time::Instant::now();
                let refused = queues.admit(&id(), 1, async {}).await;
                (refused.map(|_| ()), started.elapsed())
            })
        };
        tokio::task::yield_now().await;
        let full = queues.admit(&id(), 1, async {}).await;
        assert_eq!(full.map(|_| ()), Err(QueueRefusal::Full { waiting: 1 }));
        let (refused, waited) = waiter.await.unwrap();
        assert_eq!(refused, Err(QueueRefusal::TimedOut { waited: WAIT }));
        assert!(waited >= WAIT);
        assert_eq!(traffic.summary(&id()).queued, 0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_waiter_that_goes_away_leaves_the_line() {
        let (queues, traffic) = queues(5);
        let _held = queues.admit(&id(), 1, async {}).await;
        let waiter = {
            let queues = queues.clone();
            tokio::spawn(async move {
                let _ = queues.admit(&id(), 1, async {}).await;
            })
        };
        tokio::task::yield_now().await;
        assert_eq!(traffic.summary(&id()).queued, 1);
        waiter.abort();
        let _ = waiter.await;
        assert_eq!(traffic.summary(&id()).queued, 0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_changed_cap_makes_a_new_lane_and_an_unchanged_one_is_kept() {
        let (queues, _) = queues(5);
        let held = queues.admit(&id(), 1, async {}).await;
        queues.retain(&HashMap::from([(id(), 1)]));
        let refused = queues.admit(&id(), 1, async {}).await;
        assert!(refused.is_err(), "the kept lane still counts the held slot");
        queues.retain(&HashMap::from([(id(), 2)]));
        let second = queues.admit(&id(), 2, async {}).await;
        assert!(second.unwrap().is_some());
        drop(held);
    }
}
