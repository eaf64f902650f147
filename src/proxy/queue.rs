//! Redline's queue: with a concurrency cap set for an account, requests beyond it wait their
//! turn here instead of being sent on to be refused by the provider. The queue is bounded in
//! length and in waiting time.
//!
//! It is fair between tools, so that one tool's fan-out cannot starve another: each tool has a
//! line of its own, and a freed slot goes to the tool served least recently (a tool not served
//! yet first), oldest request first within a tool. While several tools wait that is a plain
//! round robin; a tool that starts waiting gets the next slot. With Claude Code's 20 requests
//! waiting, the openai-python script that sends 2 next gets the next freed slot and the one
//! after Claude Code's next.
//!
//! A slot is counted from the moment it is granted: a waiter granted a slot but dropped (its
//! client hung up) before it ran hands the slot on at once, and a waiter that leaves the line
//! takes nothing with it. Every change to a lane happens under its lock, which also keeps the
//! waiting count the traffic shows in step.
//!
//! Bounds may change while requests wait (`proxy.queue_max_wait_s` set on a running daemon):
//! a waiting request's deadline moves with the setting, counted from when it joined (so
//! lowering the wait refuses at once those who have waited longer); a shorter line only turns
//! away requests that come after.

use super::answers::QueueRefusal;
use crate::keys::account_id::AccountId;
use crate::proxy::traffic::Traffic;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;
use tokio::sync::{oneshot, watch};
use tokio::time::Instant;

/// How many tools' turns a lane remembers beyond those waiting; one forgotten counts as not
/// served yet, which only ever moves it forward once.
const REMEMBERED_TOOLS: usize = 64;

pub struct Queues {
    lanes: Mutex<HashMap<AccountId, Arc<Lane>>>,
    bounds: watch::Sender<Bounds>,
    /// Told how many requests wait, per account.
    traffic: Arc<Traffic>,
}

/// How long a line may grow, and how long a request may wait in it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bounds {
    /// Most requests waiting per account; more are refused at once.
    pub max_len: usize,
    pub max_wait: Duration,
}

/// One account's slots under its cap, and the requests waiting for them.
struct Lane {
    cap: u64,
    account: AccountId,
    traffic: Arc<Traffic>,
    state: Mutex<LaneState>,
}

#[derive(Default)]
struct LaneState {
    /// Slots granted and not given back, a grant its waiter has not picked up yet included.
    in_use: u64,
    /// Each waiting tool's requests, oldest first; a tool with none has no entry.
    lines: HashMap<String, VecDeque<Waiter>>,
    waiting: usize,
    /// The number of the grant each tool got last (tools without a line: bounded).
    served: HashMap<String, u64>,
    grants: u64,
    tickets: u64,
}

struct Waiter {
    ticket: u64,
    wake: oneshot::Sender<()>,
}

/// A place in flight under the cap, held until the answer has been relayed; dropping it gives
/// the slot to the next in line.
pub struct Slot {
    lane: Arc<Lane>,
}

impl std::fmt::Debug for Slot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Slot")
            .field("account", &self.lane.account.as_str())
            .finish()
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut state = self.lane.lock();
        state.in_use -= 1;
        self.lane.hand_out(&mut state);
    }
}

impl Queues {
    pub fn new(bounds: Bounds, traffic: Arc<Traffic>) -> Queues {
        Queues {
            lanes: Mutex::default(),
            bounds: watch::channel(bounds).0,
            traffic,
        }
    }

    /// New bounds, for the requests to come and (the wait) for those waiting now.
    pub fn set_bounds(&self, bounds: Bounds) {
        self.bounds.send_if_modified(|old| {
            let changed = *old != bounds;
            *old = bounds;
            changed
        });
    }

    /// Keeps the lanes whose cap is unchanged, so the requests in flight still count against
    /// them. A lane whose cap changed starts afresh: until the requests admitted under the old
    /// cap end, the account may briefly have both in flight.
    pub fn retain(&self, caps: &HashMap<AccountId, u64>) {
        lock(&self.lanes).retain(|id, lane| caps.get(id) == Some(&lane.cap));
    }

    fn lane(&self, account: &AccountId, cap: u64) -> Arc<Lane> {
        let mut lanes = lock(&self.lanes);
        if let Some(lane) = lanes.get(account)
            && lane.cap == cap
        {
            return lane.clone();
        }
        let lane = Arc::new(Lane {
            cap,
            account: account.clone(),
            traffic: self.traffic.clone(),
            state: Mutex::default(),
        });
        lanes.insert(account.clone(), lane.clone());
        lane
    }

    /// How many requests wait for `account`, per tool.
    pub fn queued_by_tool(&self, account: &AccountId) -> BTreeMap<String, u64> {
        let Some(lane) = lock(&self.lanes).get(account).cloned() else {
            return BTreeMap::new();
        };
        let state = lane.lock();
        state
            .lines
            .iter()
            .map(|(tool, line)| (tool.clone(), line.len() as u64))
            .collect()
    }

    /// A slot for a request from `tool` to `account`: at once when one is free or there is no
    /// cap (`0`), else after waiting in line (refused when the line is full or the wait too
    /// long). While it waits, `meanwhile` runs (the caller reads the request body ahead, which
    /// also lets the server notice a client that hangs up).
    pub async fn admit(
        &self,
        account: &AccountId,
        cap: u64,
        tool: &str,
        meanwhile: impl Future<Output = ()>,
    ) -> Result<Option<Slot>, QueueRefusal> {
        if cap == 0 {
            return Ok(None);
        }
        let lane = self.lane(account, cap);
        let max_len = self.bounds.borrow().max_len;
        let mut place = match lane.clone().take_or_join(tool, max_len)? {
            Joined::Slot(slot) => return Ok(Some(slot)),
            Joined::Waiting(place) => place,
        };
        let mut bounds = self.bounds.subscribe();
        let meanwhile = async {
            meanwhile.await;
            std::future::pending::<()>().await
        };
        tokio::pin!(meanwhile);
        loop {
            let deadline = place.joined + bounds.borrow_and_update().max_wait;
            tokio::select! {
                biased;
                granted = &mut place.wake => {
                    // The sender is dropped only after sending: a lane never drops a waiter.
                    debug_assert!(granted.is_ok());
                    return Ok(Some(place.take()));
                }
                () = tokio::time::sleep_until(deadline) => {
                    return match place.leave() {
                        // Granted at the last moment: better used than handed on.
                        Some(slot) => Ok(Some(slot)),
                        None => Err(QueueRefusal::TimedOut { waited: place.joined.elapsed() }),
                    };
                }
                // New bounds: go round again with the new deadline.
                Ok(()) = bounds.changed() => {}
                () = &mut meanwhile => unreachable!("`meanwhile` never ends"),
            }
        }
    }
}

enum Joined {
    Slot(Slot),
    Waiting(Place),
}

impl Lane {
    fn lock(&self) -> MutexGuard<'_, LaneState> {
        lock(&self.state)
    }

    /// A free slot when there is one (then nobody waits: slots are handed out as they free),
    /// else a place at the end of `tool`'s line, unless the lane already has `max_len` waiting.
    fn take_or_join(self: Arc<Self>, tool: &str, max_len: usize) -> Result<Joined, QueueRefusal> {
        let mut state = self.lock();
        if state.in_use < self.cap {
            debug_assert_eq!(state.waiting, 0);
            state.in_use += 1;
            state.record_grant(tool);
            drop(state);
            return Ok(Joined::Slot(Slot { lane: self }));
        }
        if state.waiting >= max_len {
            return Err(QueueRefusal::Full {
                waiting: state.waiting,
            });
        }
        let (wake, woken) = oneshot::channel();
        state.tickets += 1;
        let ticket = state.tickets;
        // Looked up before inserting, so a tool already waiting costs no allocation.
        match state.lines.get_mut(tool) {
            Some(line) => line.push_back(Waiter { ticket, wake }),
            None => {
                state
                    .lines
                    .insert(tool.to_owned(), VecDeque::from([Waiter { ticket, wake }]));
            }
        }
        state.waiting += 1;
        self.show_waiting(&state);
        drop(state);
        Ok(Joined::Waiting(Place {
            lane: self,
            tool: tool.to_owned(),
            ticket,
            wake: woken,
            joined: Instant::now(),
            done: false,
        }))
    }

    /// Grants free slots to the waiters whose turn it is. Called under the lock after every
    /// change that may free a slot.
    fn hand_out(&self, state: &mut LaneState) {
        let before = state.waiting;
        while state.in_use < self.cap
            && let Some(tool) = state.next_tool()
        {
            let line = state.lines.get_mut(&tool).expect("next_tool names a line");
            let waiter = line.pop_front().expect("lines are never empty");
            if line.is_empty() {
                state.lines.remove(&tool);
            }
            state.waiting -= 1;
            // The waiter's receiver lives until it has left the line under this lock, so the
            // send cannot fail; were it to, the slot would be nobody's: keep it free.
            if waiter.wake.send(()).is_ok() {
                state.in_use += 1;
                state.record_grant(&tool);
            }
        }
        if state.waiting != before {
            self.show_waiting(state);
        }
    }

    fn show_waiting(&self, state: &LaneState) {
        self.traffic.set_queued(&self.account, state.waiting as u64);
    }
}

impl LaneState {
    /// The waiting tool served least recently (never served first), ties to the older request.
    fn next_tool(&self) -> Option<String> {
        self.lines
            .iter()
            .min_by_key(|(tool, line)| {
                let served = self.served.get(tool.as_str()).copied().unwrap_or(0);
                (served, line.front().map_or(u64::MAX, |w| w.ticket))
            })
            .map(|(tool, _)| tool.clone())
    }

    fn record_grant(&mut self, tool: &str) {
        self.grants += 1;
        let grant = self.grants;
        match self.served.get_mut(tool) {
            Some(last) => *last = grant,
            None => {
                self.served.insert(tool.to_owned(), grant);
            }
        }
        if self.served.len() > REMEMBERED_TOOLS + self.lines.len() {
            let lines = &self.lines;
            self.served
                .retain(|kept, _| kept == tool || lines.contains_key(kept));
        }
    }

    /// Takes a waiter out of its line, if it is still there.
    fn remove(&mut self, tool: &str, ticket: u64) -> bool {
        let Some(line) = self.lines.get_mut(tool) else {
            return false;
        };
        let Some(index) = line.iter().position(|w| w.ticket == ticket) else {
            return false;
        };
        line.remove(index);
        if line.is_empty() {
            self.lines.remove(tool);
        }
        self.waiting -= 1;
        true
    }
}

/// A request's place in line. Dropped without being taken or left (the client hung up), it
/// leaves the line, or hands on the slot it was granted meanwhile.
struct Place {
    lane: Arc<Lane>,
    tool: String,
    ticket: u64,
    wake: oneshot::Receiver<()>,
    joined: Instant,
    done: bool,
}

impl Place {
    /// The slot it was granted.
    fn take(&mut self) -> Slot {
        self.done = true;
        Slot {
            lane: self.lane.clone(),
        }
    }

    /// Leaves the line; or, if a slot was granted meanwhile, takes it.
    fn leave(&mut self) -> Option<Slot> {
        let mut state = self.lane.lock();
        // Under the lock, so no grant can come between looking and leaving.
        if self.wake.try_recv().is_ok() {
            drop(state);
            return Some(self.take());
        }
        self.done = true;
        if state.remove(&self.tool, self.ticket) {
            self.lane.show_waiting(&state);
        }
        None
    }
}

impl Drop for Place {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        let mut state = self.lane.lock();
        if self.wake.try_recv().is_ok() {
            // Granted, never used: the next in line gets it.
            state.in_use -= 1;
            self.lane.hand_out(&mut state);
        } else if state.remove(&self.tool, self.ticket) {
            self.lane.show_waiting(&state);
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::sync::mpsc;

    fn id() -> AccountId {
        "kimi-main".parse().unwrap()
    }

    const WAIT: Duration = Duration::from_secs(60);
    const A: &str = "Claude Code";
    const B: &str = "openai-python";

    fn queues(max_len: usize) -> (Arc<Queues>, Arc<Traffic>) {
        let traffic = Traffic::new();
        let bounds = Bounds {
            max_len,
            max_wait: WAIT,
        };
        (Arc::new(Queues::new(bounds, traffic.clone())), traffic)
    }

    impl Queues {
        /// (slots in use, requests waiting) in `account`'s lane, checking on the way that the
        /// lines and the waiting count agree.
        fn figures(&self, account: &AccountId) -> (u64, usize) {
            let Some(lane) = lock(&self.lanes).get(account).cloned() else {
                return (0, 0);
            };
            let state = lane.lock();
            let in_lines: usize = state.lines.values().map(VecDeque::len).sum();
            assert_eq!(in_lines, state.waiting);
            assert!(state.lines.values().all(|line| !line.is_empty()));
            (state.in_use, state.waiting)
        }
    }

    /// Lets every other task run until it waits: with the clock paused, time moves on only
    /// once nothing else can run.
    async fn settle() {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }

    /// A request from `tool` that sends its slot (or refusal) back, tagged with `name`.
    fn request(
        queues: &Arc<Queues>,
        cap: u64,
        tool: &'static str,
        name: String,
        done: &mpsc::UnboundedSender<(String, Result<Option<Slot>, QueueRefusal>)>,
    ) -> tokio::task::JoinHandle<()> {
        let (queues, done) = (queues.clone(), done.clone());
        tokio::spawn(async move {
            let admitted = queues.admit(&id(), cap, tool, async {}).await;
            let _ = done.send((name, admitted));
        })
    }

    #[tokio::test(start_paused = true)]
    async fn no_cap_admits_everything_at_once() {
        let (queues, _) = queues(1);
        for _ in 0..100 {
            let slot = queues.admit(&id(), 0, A, async {}).await;
            assert!(slot.unwrap().is_none());
        }
    }

    #[tokio::test(start_paused = true)]
    async fn one_tools_requests_are_admitted_in_order_as_slots_free() {
        let (queues, traffic) = queues(10);
        let first = queues.admit(&id(), 1, A, async {}).await;
        let first = first.unwrap().unwrap();
        let (done, mut admitted) = mpsc::unbounded_channel();
        for n in 0..3 {
            request(&queues, 1, A, n.to_string(), &done);
            // Each one joins the line before the next.
            settle().await;
        }
        assert_eq!(traffic.summary(&id()).queued, 3);
        assert_eq!(
            queues.queued_by_tool(&id()),
            BTreeMap::from([(A.into(), 3)])
        );
        let mut slot = first;
        let mut order = Vec::new();
        for _ in 0..3 {
            drop(slot);
            let (name, next) = admitted.recv().await.unwrap();
            order.push(name);
            slot = next.unwrap().unwrap();
        }
        assert_eq!(order, ["0", "1", "2"]);
        assert_eq!(traffic.summary(&id()).queued, 0);
        assert_eq!(queues.figures(&id()), (1, 0));
        drop(slot);
        assert_eq!(queues.figures(&id()), (0, 0));
    }

    /// Tool A sends 20 at once, then tool B sends 2: B's first gets the next freed slot, its
    /// second the one after A's next; A's backlog follows.
    async fn twenty_against_two(cap: u64) -> Vec<String> {
        let (queues, traffic) = queues(100);
        let (done, mut admitted) = mpsc::unbounded_channel();
        for n in 0..20 {
            request(&queues, cap, A, format!("A{n}"), &done);
        }
        settle().await;
        for n in 0..2 {
            request(&queues, cap, B, format!("B{n}"), &done);
        }
        settle().await;
        let waiting = 22 - cap as usize;
        assert_eq!(traffic.summary(&id()).queued, waiting as u64);
        assert_eq!(
            queues.queued_by_tool(&id()),
            BTreeMap::from([(A.into(), 20 - cap), (B.into(), 2)])
        );
        // Slots are given back oldest first, as answers end.
        let mut held = VecDeque::new();
        let mut order = Vec::new();
        for _ in 0..cap {
            let (name, slot) = admitted.recv().await.unwrap();
            order.push(name);
            held.push_back(slot.unwrap().unwrap());
        }
        while let Some(oldest) = held.pop_front() {
            drop(oldest);
            settle().await;
            if let Ok((name, slot)) = admitted.try_recv() {
                order.push(name);
                held.push_back(slot.unwrap().unwrap());
            }
            assert!(admitted.try_recv().is_err(), "one freed slot, one grant");
        }
        assert_eq!(queues.figures(&id()), (0, 0));
        order
    }

    #[tokio::test(start_paused = true)]
    async fn a_second_tool_waits_at_most_one_turn_behind_a_fan_out() {
        let order = twenty_against_two(1).await;
        assert_eq!(order[..5], ["A0", "B0", "A1", "B1", "A2"]);
        let a: Vec<_> = (0..20).map(|n| format!("A{n}")).collect();
        let rest: Vec<_> = order
            .iter()
            .filter(|n| n.starts_with('A'))
            .cloned()
            .collect();
        assert_eq!(rest, a, "each tool's own requests keep their order");

        let order = twenty_against_two(2).await;
        assert_eq!(order[..6], ["A0", "A1", "B0", "A2", "B1", "A3"]);
        assert_eq!(order.len(), 22);
    }

    #[tokio::test(start_paused = true)]
    async fn three_tools_take_turns_the_least_recently_served_first() {
        let (queues, _) = queues(100);
        let (done, mut admitted) = mpsc::unbounded_channel();
        let held = queues.admit(&id(), 1, "tool-c", async {}).await.unwrap();
        for (tool, tag) in [("tool-a", "a"), ("tool-b", "b"), ("tool-c", "c")] {
            for n in 0..3 {
                request(&queues, 1, tool, format!("{tag}{n}"), &done);
            }
            settle().await;
        }
        let mut slot = held;
        let mut order = Vec::new();
        for _ in 0..9 {
            drop(slot);
            let (name, next) = admitted.recv().await.unwrap();
            order.push(name);
            slot = next.unwrap();
        }
        // tool-c had the slot: a and b (never served) go first, then round and round.
        assert_eq!(
            order,
            ["a0", "b0", "c0", "a1", "b1", "c1", "a2", "b2", "c2"]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_full_line_and_a_long_wait_are_refused() {
        let (queues, traffic) = queues(1);
        let _held = queues.admit(&id(), 1, A, async {}).await;
        let waiter = {
            let queues = queues.clone();
            tokio::spawn(async move {
                let started = Instant::now();
                let refused = queues.admit(&id(), 1, A, async {}).await;
                (refused.map(|_| ()), started.elapsed())
            })
        };
        settle().await;
        let full = queues.admit(&id(), 1, B, async {}).await;
        assert_eq!(full.map(|_| ()), Err(QueueRefusal::Full { waiting: 1 }));
        let (refused, waited) = waiter.await.unwrap();
        let expected = WAIT - Duration::from_millis(1);
        assert!(waited >= expected, "{waited:?}");
        assert!(matches!(refused, Err(QueueRefusal::TimedOut { waited }) if waited >= expected));
        assert_eq!(traffic.summary(&id()).queued, 0);
        assert_eq!(queues.figures(&id()), (1, 0));
    }

    #[tokio::test(start_paused = true)]
    async fn a_waiter_that_goes_away_leaves_the_line() {
        let (queues, traffic) = queues(5);
        let held = queues.admit(&id(), 1, A, async {}).await;
        let waiter = {
            let queues = queues.clone();
            tokio::spawn(async move {
                let _ = queues.admit(&id(), 1, B, async {}).await;
            })
        };
        settle().await;
        assert_eq!(traffic.summary(&id()).queued, 1);
        waiter.abort();
        let _ = waiter.await;
        assert_eq!(traffic.summary(&id()).queued, 0);
        assert!(queues.queued_by_tool(&id()).is_empty());
        drop(held);
        assert_eq!(queues.figures(&id()), (0, 0), "nobody was granted the slot");
    }

    #[tokio::test(start_paused = true)]
    async fn a_slot_granted_to_a_waiter_that_went_away_goes_to_the_next() {
        let (queues, _) = queues(5);
        let (done, mut admitted) = mpsc::unbounded_channel();
        let held = queues.admit(&id(), 1, A, async {}).await.unwrap();
        let gone = request(&queues, 1, B, "gone".into(), &done);
        settle().await;
        request(&queues, 1, A, "next".into(), &done);
        settle().await;
        // The slot is granted to `gone` here (never served, it goes before `next`), and `gone`
        // is dropped before it ever runs again.
        let freed = Instant::now();
        drop(held);
        gone.abort();
        let (name, slot) = admitted.recv().await.unwrap();
        assert_eq!(name, "next");
        let slot = slot.expect("granted, not timed out").unwrap();
        assert!(freed.elapsed() < Duration::from_secs(1));
        assert_eq!(queues.figures(&id()), (1, 0));
        drop(slot);
        assert_eq!(queues.figures(&id()), (0, 0));
    }

    #[tokio::test(start_paused = true)]
    async fn a_slot_freed_as_the_wait_ends_is_taken_or_handed_on_never_lost() {
        let (queues, _) = queues(5);
        let (done, mut admitted) = mpsc::unbounded_channel();
        let held = queues.admit(&id(), 1, A, async {}).await.unwrap();
        let joined = Instant::now();
        request(&queues, 1, B, "late".into(), &done);
        settle().await;
        tokio::time::sleep_until(joined + WAIT).await;
        drop(held);
        let (_, outcome) = admitted.recv().await.unwrap();
        match outcome {
            Ok(slot) => {
                assert_eq!(queues.figures(&id()), (1, 0));
                drop(slot);
            }
            Err(refusal) => assert!(matches!(refusal, QueueRefusal::TimedOut { .. })),
        }
        assert_eq!(queues.figures(&id()), (0, 0));
    }

    #[tokio::test(start_paused = true)]
    async fn waiting_requests_follow_a_changed_wait() {
        let (queues, _) = queues(5);
        let (done, mut admitted) = mpsc::unbounded_channel();
        let _held = queues.admit(&id(), 1, A, async {}).await.unwrap();
        let joined = Instant::now();
        request(&queues, 1, B, "early".into(), &done);
        tokio::time::sleep(Duration::from_secs(10)).await;
        // Shorter than it has waited already: refused at once.
        queues.set_bounds(Bounds {
            max_len: 5,
            max_wait: Duration::from_secs(3),
        });
        let (_, refused) = admitted.recv().await.unwrap();
        assert!(matches!(
            refused,
            Err(QueueRefusal::TimedOut { waited }) if waited >= Duration::from_secs(10)
        ));
        assert!(joined.elapsed() < Duration::from_secs(11));
        // A longer wait than it started with is kept too.
        let joined = Instant::now();
        request(&queues, 1, B, "longer".into(), &done);
        settle().await;
        queues.set_bounds(Bounds {
            max_len: 5,
            max_wait: Duration::from_secs(20),
        });
        let (_, refused) = admitted.recv().await.unwrap();
        assert!(refused.is_err());
        let waited = joined.elapsed();
        assert!(
            waited >= Duration::from_secs(19) && waited <= Duration::from_secs(21),
            "{waited:?}"
        );
        // A shorter line turns away only those who come after.
        queues.set_bounds(Bounds {
            max_len: 1,
            max_wait: WAIT,
        });
        request(&queues, 1, A, "first".into(), &done);
        settle().await;
        let full = queues.admit(&id(), 1, B, async {}).await;
        assert_eq!(full.map(|_| ()), Err(QueueRefusal::Full { waiting: 1 }));
        assert_eq!(queues.figures(&id()), (1, 1));
    }

    #[tokio::test(start_paused = true)]
    async fn a_changed_cap_makes_a_new_lane_and_an_unchanged_one_is_kept() {
        let (queues, _) = queues(5);
        let held = queues.admit(&id(), 1, A, async {}).await;
        queues.retain(&HashMap::from([(id(), 1)]));
        let refused =
            tokio::time::timeout(Duration::from_secs(1), queues.admit(&id(), 1, A, async {})).await;
        assert!(refused.is_err(), "the kept lane still counts the held slot");
        queues.retain(&HashMap::from([(id(), 2)]));
        let second = queues.admit(&id(), 2, A, async {}).await;
        assert!(second.unwrap().is_some());
        drop(held);
    }

    /// Random requests from three tools, slots given back, clients hanging up, waits running
    /// out and bounds changing, in many orders: after every step each granted slot is held by
    /// exactly one request (none lost, none granted twice), a free slot never leaves anyone
    /// waiting, and the traffic shows the true line.
    #[tokio::test(start_paused = true)]
    async fn no_slot_is_ever_lost_or_granted_twice() {
        for seed in 0..40 {
            let mut rng = fastrand::Rng::with_seed(seed);
            let cap = rng.u64(1..=4);
            let (queues, traffic) = queues(rng.usize(1..=8));
            let (done, mut admitted) = mpsc::unbounded_channel();
            let mut held: Vec<Slot> = Vec::new();
            let mut tasks: Vec<tokio::task::JoinHandle<()>> = Vec::new();
            for step in 0..150 {
                match rng.u8(0..10) {
                    0..=3 => {
                        let tool = ["tool-a", "tool-b", "tool-c"][rng.usize(0..3)];
                        tasks.push(request(&queues, cap, tool, step.to_string(), &done));
                    }
                    4..=5 if !held.is_empty() => drop(held.swap_remove(rng.usize(..held.len()))),
                    6 if !tasks.is_empty() => tasks.swap_remove(rng.usize(..tasks.len())).abort(),
                    7 => tokio::time::sleep(Duration::from_millis(rng.u64(1..200))).await,
                    8 => queues.set_bounds(Bounds {
                        max_len: rng.usize(0..=8),
                        max_wait: Duration::from_millis(rng.u64(1..300)),
                    }),
                    // Abort a request and free a slot at the same moment.
                    _ if !held.is_empty() && !tasks.is_empty() => {
                        tasks.swap_remove(rng.usize(..tasks.len())).abort();
                        drop(held.swap_remove(rng.usize(..held.len())));
                    }
                    _ => {}
                }
                settle().await;
                while let Ok((_, outcome)) = admitted.try_recv() {
                    if let Ok(Some(slot)) = outcome {
                        held.push(slot);
                    }
                }
                tasks.retain(|task| !task.is_finished());
                let (in_use, waiting) = queues.figures(&id());
                assert_eq!(in_use, held.len() as u64, "seed {seed} step {step}");
                assert!(in_use <= cap, "seed {seed} step {step}");
                assert_eq!(waiting, tasks.len(), "seed {seed} step {step}");
                assert!(in_use == cap || waiting == 0, "seed {seed} step {step}");
                assert_eq!(traffic.summary(&id()).queued, waiting as u64);
            }
            held.clear();
            for task in tasks.drain(..) {
                task.abort();
            }
            settle().await;
            while let Ok((_, outcome)) = admitted.try_recv() {
                drop(outcome);
            }
            assert_eq!(queues.figures(&id()), (0, 0), "seed {seed}");
        }
    }
}
