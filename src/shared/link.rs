//! Whether the shared limits are in force, and when to try the server again. Pure.

use std::time::Duration;

/// The state of the connection to the shared server, as the status shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Link {
    /// Connected: the group's cap is in force.
    Up,
    /// Out of reach since the first failure: this machine's cap is in force, and the
    /// connection is tried again after a back-off.
    Down { reason: String },
}

impl Link {
    pub fn is_up(&self) -> bool {
        matches!(self, Link::Up)
    }
}

/// The words the status shows while the server is out of reach.
pub const UNAVAILABLE: &str = "shared limit unavailable, using this machine's cap";

/// Doubling waits between connection attempts, from `first` up to `most`; back to `first`
/// once a connection works.
#[derive(Clone, Debug)]
pub struct Backoff {
    first: Duration,
    most: Duration,
    failures: u32,
}

impl Backoff {
    pub fn new(first: Duration, most: Duration) -> Backoff {
        Backoff {
            first,
            most,
            failures: 0,
        }
    }

    /// The wait after one more failure.
    pub fn failed(&mut self) -> Duration {
        let wait = self
            .first
            .saturating_mul(1 << self.failures.min(16))
            .min(self.most);
        self.failures = self.failures.saturating_add(1);
        wait
    }

    pub fn succeeded(&mut self) {
        self.failures = 0;
    }
}

/// What an acquire reply asks of the request: `{1, n}` granted, `{0, n}` wait for a slot,
/// `{-1, ms}` the account is cooling down for `ms` more.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Granted,
    Wait,
    CoolingDown(Duration),
}

pub fn verdict(reply: &[i64]) -> Option<Verdict> {
    match reply {
        [1, ..] => Some(Verdict::Granted),
        [0, ..] => Some(Verdict::Wait),
        [-1, ms, ..] => Some(Verdict::CoolingDown(Duration::from_millis(
            (*ms).max(1) as u64
        ))),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn back_off_doubles_to_its_ceiling_and_starts_over_after_success() {
        let ms = Duration::from_millis;
        let mut backoff = Backoff::new(ms(200), ms(5000));
        let waits: Vec<_> = (0..7).map(|_| backoff.failed()).collect();
        assert_eq!(
            waits,
            [
                ms(200),
                ms(400),
                ms(800),
                ms(1600),
                ms(3200),
                ms(5000),
                ms(5000)
            ]
        );
        for _ in 0..100 {
            backoff.failed();
        }
        assert_eq!(backoff.failed(), ms(5000), "no overflow");
        backoff.succeeded();
        assert_eq!(backoff.failed(), ms(200));
    }

    #[test]
    fn script_replies_become_verdicts() {
        assert_eq!(verdict(&[1, 3]), Some(Verdict::Granted));
        assert_eq!(verdict(&[0, 30]), Some(Verdict::Wait));
        assert_eq!(
            verdict(&[-1, 1500]),
            Some(Verdict::CoolingDown(Duration::from_millis(1500)))
        );
        assert_eq!(
            verdict(&[-1, 0]),
            Some(Verdict::CoolingDown(Duration::from_millis(1)))
        );
        assert_eq!(verdict(&[7]), None);
        assert_eq!(verdict(&[]), None);
        assert!(Link::Up.is_up());
        assert!(!Link::Down { reason: "x".into() }.is_up());
    }
}
