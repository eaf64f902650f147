//! Durations in words for people (`45s`, `3m 20s`, `1h 12m`), and the time left until a moment.

use jiff::Timestamp;
use std::time::Duration;

/// `45s`, `3m 20s`, `1h 12m`.
pub fn human_duration(d: Duration) -> String {
    let secs = d.as_secs();
    match secs {
        0 if d.as_millis() > 0 => format!("{}ms", d.as_millis()),
        0..60 => format!("{secs}s"),
        60..3600 if secs.is_multiple_of(60) => format!("{}m", secs / 60),
        60..3600 => format!("{}m {}s", secs / 60, secs % 60),
        3600..172_800 => format!("{}h {}m", secs / 3600, (secs % 3600) / 60),
        _ => format!("{}d {}h", secs / 86_400, (secs % 86_400) / 3600),
    }
}

/// `1h 12m` until `at`, or `None` when it is past or unknown.
pub fn time_until(at: Option<Timestamp>, now: Timestamp) -> Option<String> {
    let left = Duration::try_from(at?.duration_since(now)).ok()?;
    Some(human_duration(left))
}

/// A wait to tell a person: whole seconds, rounded up so that "retry in" is never too early
/// (859 ms is `1s`, never `859ms`).
pub fn human_wait(d: Duration) -> String {
    let secs = d.as_secs() + u64::from(d.subsec_nanos() > 0);
    human_duration(Duration::from_secs(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_waits_in_words() {
        assert_eq!(human_duration(Duration::from_secs(4320)), "1h 12m");
        assert_eq!(human_duration(Duration::from_secs(200)), "3m 20s");
        assert_eq!(human_wait(Duration::from_millis(859)), "1s");
        assert_eq!(human_wait(Duration::from_millis(59_001)), "1m");
        assert_eq!(human_wait(Duration::from_secs(25)), "25s");
        assert_eq!(
            human_duration(Duration::from_secs(4 * 86_400 + 7200)),
            "4d 2h"
        );
    }
}
