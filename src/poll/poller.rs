//! One polling task per account: an interval (never under 15 s) with jitter, exponential
//! backoff on failure, the usage endpoint's own Retry-After respected (the monitor must never
//! be what gets the user throttled), and "refresh now" requests that coalesce with a poll
//! already in progress.

use crate::poll::usage::PollError;
use crate::providers::snapshot::Snapshot;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;

pub const MIN_INTERVAL: Duration = crate::providers::MIN_POLL_INTERVAL;
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(60);
/// Backoff stops doubling here.
pub const MAX_BACKOFF: Duration = Duration::from_secs(30 * 60);

pub type PollResult = Result<Snapshot, PollError>;
pub type PollFuture = Pin<Box<dyn Future<Output = PollResult> + Send>>;

/// Something that can be polled for usage: the HTTP source in production, a script in tests.
pub trait UsageSource: Send + Sync + 'static {
    fn poll(&self) -> PollFuture;
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Schedule {
    pub interval: Duration,
    /// Each delay is stretched or shrunk by up to this fraction, so many accounts (and many
    /// Redline installs) do not poll in lockstep.
    pub jitter: f64,
    pub max_backoff: Duration,
}

impl Schedule {
    pub fn every(interval: Duration) -> Schedule {
        Schedule {
            interval: interval.max(MIN_INTERVAL),
            jitter: 0.1,
            max_backoff: MAX_BACKOFF,
        }
    }
}

/// How long to wait before the next poll. `jitter_sample` is in [-1, 1].
pub fn next_delay(
    schedule: &Schedule,
    failures: u32,
    retry_after: Option<Duration>,
    jitter_sample: f64,
) -> Duration {
    let cap = schedule.max_backoff.max(schedule.interval);
    let backoff = schedule
        .interval
        .saturating_mul(1u32 << failures.min(16))
        .min(cap);
    let factor = 1.0 + schedule.jitter * jitter_sample.clamp(-1.0, 1.0);
    let jittered = backoff.mul_f64(factor).max(MIN_INTERVAL);
    jittered.max(retry_after.unwrap_or_default())
}

/// The latest poll of one account.
#[derive(Clone, Debug, Default)]
pub struct PollReport {
    /// Counts completed polls; 0 before the first.
    pub generation: u64,
    pub result: Option<PollResult>,
    /// Failures in a row, which set the backoff.
    pub failures: u32,
}

/// A running poll task; stopped when dropped.
pub struct Poller {
    refresh: Arc<Notify>,
    busy: Arc<AtomicBool>,
    reports: watch::Receiver<PollReport>,
    task: JoinHandle<()>,
}

impl Poller {
    /// Starts polling at once, then on the schedule.
    pub fn spawn(source: Arc<dyn UsageSource>, schedule: Schedule) -> Poller {
        let refresh = Arc::new(Notify::new());
        let busy = Arc::new(AtomicBool::new(false));
        let (sender, reports) = watch::channel(PollReport::default());
        let task = tokio::spawn(run(source, schedule, refresh.clone(), busy.clone(), sender));
        Poller {
            refresh,
            busy,
            reports,
            task,
        }
    }

    pub fn subscribe(&self) -> watch::Receiver<PollReport> {
        self.reports.clone()
    }

    /// Polls now and returns once a poll has completed. While a poll is in progress, waits for
    /// that one instead of starting another.
    pub async fn refresh(&self) {
        let mut reports = self.reports.clone();
        let seen = reports.borrow_and_update().generation;
        if !self.busy.load(Ordering::SeqCst) {
            self.refresh.notify_one();
        }
        let _ = reports.wait_for(|r| r.generation > seen).await;
    }
}

impl Drop for Poller {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn run(
    source: Arc<dyn UsageSource>,
    schedule: Schedule,
    refresh: Arc<Notify>,
    busy: Arc<AtomicBool>,
    reports: watch::Sender<PollReport>,
) {
    let mut delay = Duration::ZERO;
    loop {
        tokio::select! {
            () = tokio::time::sleep(delay) => {}
            () = refresh.notified() => {}
        }
        busy.store(true, Ordering::SeqCst);
        let result = source.poll().await;
        let retry_after = result.as_ref().err().and_then(PollError::retry_after);
        let mut failures = 0;
        reports.send_modify(|report| {
            report.generation += 1;
            report.failures = if result.is_ok() {
                0
            } else {
                report.failures + 1
            };
            failures = report.failures;
            report.result = Some(result);
        });
        busy.store(false, Ordering::SeqCst);
        delay = next_delay(
            &schedule,
            failures,
            retry_after,
            fastrand::f64() * 2.0 - 1.0,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::throttle::{Cause, Classification};
    use std::sync::Mutex;
    use tokio::time::Instant;

    #[test]
    fn delays_back_off_exponentially_with_jitter_and_respect_retry_after() {
        let s = Schedule::every(Duration::from_secs(60));
        assert_eq!(next_delay(&s, 0, None, 0.0), Duration::from_secs(60));
        assert_eq!(next_delay(&s, 1, None, 0.0), Duration::from_secs(120));
        assert_eq!(next_delay(&s, 3, None, 0.0), Duration::from_secs(480));
        assert_eq!(next_delay(&s, 30, None, 0.0), MAX_BACKOFF);
        assert_eq!(next_delay(&s, 0, None, 1.0), Duration::from_secs(66));
        assert_eq!(next_delay(&s, 0, None, -1.0), Duration::from_secs(54));
        assert_eq!(
            next_delay(&s, 1, Some(Duration::from_secs(900)), 0.0),
            Duration::from_secs(900)
        );
        assert_eq!(
            next_delay(&s, 1, Some(Duration::ZERO), 0.0),
            Duration::from_secs(120)
        );
        let fast = Schedule::every(Duration::from_secs(1));
        assert_eq!(fast.interval, MIN_INTERVAL, "never faster than 15 s");
        assert!(next_delay(&fast, 0, None, -1.0) >= MIN_INTERVAL);
    }

    /// Answers from a script, recording when (on tokio's clock) each poll started.
    struct Script {
        answers: Mutex<Vec<PollResult>>,
        started: Mutex<Vec<Instant>>,
        takes: Duration,
    }

    impl Script {
        fn new(answers: Vec<PollResult>, takes: Duration) -> Arc<Script> {
            Arc::new(Script {
                answers: Mutex::new(answers),
                started: Mutex::new(Vec::new()),
                takes,
            })
        }

        fn starts_since(&self, origin: Instant) -> Vec<u64> {
            self.started
                .lock()
                .unwrap()
                .iter()
                .map(|t| (*t - origin).as_secs())
                .collect()
        }
    }

    impl UsageSource for Script {
        fn poll(&self) -> PollFuture {
            self.started.lock().unwrap().push(Instant::now());
            let answer = {
                let mut answers = self.answers.lock().unwrap();
                if answers.is_empty() {
                    Ok(Snapshot::default())
                } else {
                    answers.remove(0)
                }
            };
            let takes = self.takes;
            Box::pin(async move {
                tokio::time::sleep(takes).await;
                answer
            })
        }
    }

    fn unreachable() -> PollResult {
        Err(PollError::Unreachable("cannot reach api.kimi.com".into()))
    }

    fn rate_limited(retry_after_s: u64) -> PollResult {
        let classification = Classification::new(Cause::Rpm, "slow down")
            .with_retry_after(Some(Duration::from_secs(retry_after_s)));
        Err(PollError::Refused {
            status: 429,
            classification,
        })
    }

    fn exact(interval_s: u64) -> Schedule {
        Schedule {
            interval: Duration::from_secs(interval_s),
            jitter: 0.0,
            max_backoff: Duration::from_secs(600),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn failures_back_off_and_a_success_resets_the_interval() {
        let origin = Instant::now();
        let script = Script::new(
            vec![
                unreachable(),
                unreachable(),
                unreachable(),
                Ok(Snapshot::default()),
            ],
            Duration::ZERO,
        );
        let poller = Poller::spawn(script.clone(), exact(60));
        let mut reports = poller.subscribe();
        reports.wait_for(|r| r.generation == 6).await.unwrap();
        // Polls at 0, then after 120, 240, 480 (three failures), then 60 after the success.
        assert_eq!(script.starts_since(origin), [0, 120, 360, 840, 900, 960]);
        assert_eq!(reports.borrow().failures, 0);
    }

    #[tokio::test(start_paused = true)]
    async fn the_usage_endpoints_retry_after_is_respected() {
        let origin = Instant::now();
        let script = Script::new(
            vec![rate_limited(900), Ok(Snapshot::default())],
            Duration::ZERO,
        );
        let poller = Poller::spawn(script.clone(), exact(60));
        let mut reports = poller.subscribe();
        reports.wait_for(|r| r.generation == 3).await.unwrap();
        assert_eq!(script.starts_since(origin), [0, 900, 960]);
    }

    #[tokio::test(start_paused = true)]
    async fn backoff_is_capped() {
        let origin = Instant::now();
        let script = Script::new((0..8).map(|_| unreachable()).collect(), Duration::ZERO);
        let poller = Poller::spawn(script.clone(), exact(60));
        poller
            .subscribe()
            .wait_for(|r| r.generation == 7)
            .await
            .unwrap();
        assert_eq!(
            script.starts_since(origin),
            [0, 120, 360, 840, 1440, 2040, 2640]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn refresh_now_polls_at_once_and_coalesces_with_a_poll_in_progress() {
        let origin = Instant::now();
        let script = Script::new(vec![], Duration::from_secs(5));
        let poller = Arc::new(Poller::spawn(script.clone(), exact(60)));
        poller
            .subscribe()
            .wait_for(|r| r.generation == 1)
            .await
            .unwrap();
        assert_eq!(script.starts_since(origin), [0]);

        tokio::time::sleep(Duration::from_secs(20)).await;
        poller.refresh().await;
        assert_eq!(
            script.starts_since(origin),
            [0, 25],
            "refresh polls at once, not at 65 s"
        );

        // Three refreshes while a poll is running are answered by that poll.
        tokio::time::sleep(Duration::from_secs(10)).await;
        let first = tokio::spawn({
            let poller = poller.clone();
            async move { poller.refresh().await }
        });
        tokio::time::sleep(Duration::from_secs(1)).await;
        let (a, b) = tokio::join!(poller.refresh(), poller.refresh());
        let _ = (a, b);
        first.await.unwrap();
        assert_eq!(script.starts_since(origin), [0, 25, 40]);
        assert_eq!(poller.subscribe().borrow().generation, 3);
    }
}
