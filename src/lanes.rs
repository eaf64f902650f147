//! Connections to the local port are served on single-threaded runtimes, one per core
//! ("lanes"), the way nginx runs one worker process per core. A connection, the proxied
//! request on it and the provider connection it goes out on are then polled by one thread, so
//! a request's steps never wait for another thread to wake: on Tokio's shared multi-threaded
//! runtime two workers woke each other several times per proxied request, a third of a
//! request's CPU time at concurrency 1 (benches/README.md, "Lanes").
//!
//! Everything else (pollers, the history writer, the accept loop) stays on the runtime that
//! started the server.

use std::cell::Cell;
use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::sync::mpsc;

thread_local! {
    static LANE: Cell<Option<usize>> = const { Cell::new(None) };
}

/// The lane this thread is, if it is one.
pub fn current() -> Option<usize> {
    LANE.with(Cell::get)
}

/// How many lanes a server runs: one per core.
pub fn count() -> usize {
    std::thread::available_parallelism().map_or(1, |cores| cores.get())
}

type Job = Box<dyn FnOnce() + Send>;

/// Running lanes. Dropping this ends them, and with them every task still on them.
pub struct Lanes {
    senders: Vec<mpsc::UnboundedSender<Job>>,
    next: AtomicUsize,
}

impl Lanes {
    /// Starts [`count`] lanes. When a thread or a runtime cannot be made, the lanes made so far
    /// serve (none: work runs on the caller's runtime) and the reason is logged.
    pub fn start() -> Lanes {
        let mut senders = Vec::new();
        for index in 0..count() {
            match start_lane(index) {
                Ok(sender) => senders.push(sender),
                Err(err) => {
                    eprintln!(
                        "redline: serving connections on {} threads instead of {} ({err})",
                        senders.len().max(1),
                        count()
                    );
                    break;
                }
            }
        }
        Lanes {
            senders,
            next: AtomicUsize::new(0),
        }
    }

    /// Runs `job` inside the next lane's runtime, round robin, so the tasks it spawns live
    /// there; on the caller's runtime when there is no lane.
    pub fn run(&self, job: impl FnOnce() + Send + 'static) {
        if self.senders.is_empty() {
            return job();
        }
        let lane = self.next.fetch_add(1, Ordering::Relaxed) % self.senders.len();
        if let Err(refused) = self.senders[lane].send(Box::new(job)) {
            // The lane's thread is gone (it panicked): the work is done here instead.
            (refused.0)();
        }
    }
}

fn start_lane(index: usize) -> io::Result<mpsc::UnboundedSender<Job>> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let (sender, mut jobs) = mpsc::unbounded_channel::<Job>();
    std::thread::Builder::new()
        .name(format!("redline-lane-{index}"))
        .spawn(move || {
            LANE.with(|lane| lane.set(Some(index)));
            runtime.block_on(async move {
                while let Some(job) = jobs.recv().await {
                    job();
                }
            });
        })?;
    Ok(sender)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;
    use std::sync::{Arc, Mutex};

    #[tokio::test]
    async fn jobs_take_turns_on_every_lane_and_their_tasks_run_there() {
        let lanes = Lanes::start();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (done, mut finished) = mpsc::unbounded_channel();
        for _ in 0..2 * count() {
            let seen = seen.clone();
            let done = done.clone();
            lanes.run(move || {
                let spawned_from = current();
                tokio::spawn(async move {
                    seen.lock().unwrap().push((spawned_from, current()));
                    done.send(()).unwrap();
                });
            });
        }
        for _ in 0..2 * count() {
            finished.recv().await.unwrap();
        }
        let seen = seen.lock().unwrap();
        assert!(seen.iter().all(|(from, ran)| from.is_some() && from == ran));
        let used: BTreeSet<_> = seen.iter().filter_map(|(from, _)| *from).collect();
        assert_eq!(used, (0..count()).collect());
        assert_eq!(current(), None, "the test's own thread is no lane");
    }
}
