//! Figures kept in time buckets: what happened in each minute (or hour) for a bounded span, so
//! the traffic's memory stays bounded however busy the proxy gets, and "the last hour" is a sum
//! over the buckets of the last hour.
//!
//! Time is counted in milliseconds from an origin on the monotonic clock ([`Clock`]). The
//! origin falls on a whole minute of the wall clock, so that minute and hour buckets start where
//! the wall clock's minutes and hours do (local midnight is a bucket boundary too, in every
//! time zone of whole minutes).

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;
use tokio::time::Instant;

pub const MINUTE_MS: i64 = 60_000;
pub const HOUR_MS: i64 = 60 * MINUTE_MS;

/// Milliseconds since an origin on the monotonic clock, negative before it (a request the
/// history remembers from before the daemon started).
#[derive(Clone, Copy, Debug)]
pub struct Clock {
    origin: Instant,
}

impl Clock {
    pub fn new(origin: Instant) -> Clock {
        Clock { origin }
    }

    /// A clock whose origin is the last whole minute of the wall clock: `now` is `wall_ms`
    /// (milliseconds since the Unix epoch) on the wall clock.
    pub fn aligned(now: Instant, wall_ms: i64) -> Clock {
        let into_minute = Duration::from_millis(wall_ms.rem_euclid(MINUTE_MS) as u64);
        Clock::new(now.checked_sub(into_minute).unwrap_or(now))
    }

    pub fn ms(&self, at: Instant) -> i64 {
        let signed = |d: Duration| i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
        if at >= self.origin {
            signed(at - self.origin)
        } else {
            -signed(self.origin - at)
        }
    }
}

/// Buckets of `width` milliseconds, the newest `keep` of them; a bucket exists only once
/// something was recorded in it.
#[derive(Clone, Debug)]
pub struct Series<B> {
    width: i64,
    keep: i64,
    /// (bucket index, bucket), oldest first.
    buckets: VecDeque<(i64, B)>,
}

impl<B: Default> Series<B> {
    pub fn new(width_ms: i64, keep: usize) -> Series<B> {
        Series {
            width: width_ms,
            keep: i64::try_from(keep).unwrap_or(i64::MAX),
            buckets: VecDeque::new(),
        }
    }

    /// The bucket holding time `at`, made if missing, and the older buckets forgotten.
    pub fn at(&mut self, at: i64) -> &mut B {
        let index = at.div_euclid(self.width);
        self.forget(at);
        // Nearly always the newest bucket, or a new one after it.
        let position = match self.buckets.back() {
            Some((last, _)) if *last == index => self.buckets.len() - 1,
            Some((last, _)) if *last > index => {
                match self.buckets.binary_search_by_key(&index, |(i, _)| *i) {
                    Ok(found) => found,
                    Err(missing) => {
                        self.buckets.insert(missing, (index, B::default()));
                        missing
                    }
                }
            }
            _ => {
                self.buckets.push_back((index, B::default()));
                self.buckets.len() - 1
            }
        };
        &mut self.buckets[position].1
    }

    /// Forgets the buckets older than the `keep` newest ones as of time `now`.
    pub fn forget(&mut self, now: i64) {
        let oldest = now.div_euclid(self.width) - self.keep + 1;
        while self.buckets.front().is_some_and(|(i, _)| *i < oldest) {
            self.buckets.pop_front();
        }
    }

    /// The buckets that start at or after `from`, with the time each starts, oldest first.
    pub fn since(&self, from: i64) -> impl Iterator<Item = (i64, &B)> {
        let first = from.div_euclid(self.width) + i64::from(from.rem_euclid(self.width) != 0);
        let width = self.width;
        self.buckets
            .iter()
            .filter(move |(i, _)| *i >= first)
            .map(move |(i, b)| (i * width, b))
    }

    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.buckets.is_empty()
    }
}

/// Samples (milliseconds, tokens per second) in bins a quarter octave wide, each 19 % wider
/// than the one before, with each bin's sum: a percentile is the mean of the samples in the bin
/// it falls in, exact for a single sample (or equal ones), within the bin's width otherwise.
/// Sparse: only bins with samples take memory.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Histogram {
    bins: Vec<Bin>,
}

#[derive(Clone, Copy, Debug, PartialEq)]
struct Bin {
    index: u16,
    count: u32,
    sum: f64,
}

/// Bins per octave.
const BINS_PER_OCTAVE: f64 = 4.0;

/// 0 for values below 1 (and NaN), then one bin per quarter octave.
fn bin_of(value: f64) -> u16 {
    if value >= 1.0 {
        (1.0 + value.log2() * BINS_PER_OCTAVE).min(f64::from(u16::MAX)) as u16
    } else {
        0
    }
}

impl Histogram {
    pub fn record(&mut self, value: f64) {
        let value = if value.is_finite() {
            value.max(0.0)
        } else {
            0.0
        };
        let index = bin_of(value);
        match self.bins.binary_search_by_key(&index, |b| b.index) {
            Ok(found) => {
                let bin = &mut self.bins[found];
                bin.count = bin.count.saturating_add(1);
                bin.sum += value;
            }
            Err(missing) => self.bins.insert(
                missing,
                Bin {
                    index,
                    count: 1,
                    sum: value,
                },
            ),
        }
    }

    #[cfg(test)]
    pub fn count(&self) -> u64 {
        self.bins.iter().map(|b| u64::from(b.count)).sum()
    }
}

/// Histograms added up, to read percentiles over many buckets.
#[derive(Clone, Debug, Default)]
pub struct Merged {
    bins: BTreeMap<u16, (u64, f64)>,
    count: u64,
}

impl Merged {
    pub fn add(&mut self, histogram: &Histogram) {
        for bin in &histogram.bins {
            let entry = self.bins.entry(bin.index).or_default();
            entry.0 += u64::from(bin.count);
            entry.1 += bin.sum;
            self.count += u64::from(bin.count);
        }
    }

    /// The `p`-th percentile (0 < p ≤ 1) by nearest rank, `None` without samples.
    pub fn percentile(&self, p: f64) -> Option<f64> {
        if self.count == 0 {
            return None;
        }
        let rank = ((p * self.count as f64).ceil() as u64).clamp(1, self.count);
        let mut seen = 0;
        for (count, sum) in self.bins.values() {
            seen += count;
            if seen >= rank {
                return Some(sum / *count as f64);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_found_made_and_forgotten_by_time() {
        let mut series: Series<u32> = Series::new(MINUTE_MS, 3);
        *series.at(0) += 1;
        *series.at(59_999) += 1;
        *series.at(60_000) += 1;
        // Out of order (a request that finished a moment earlier on another thread).
        *series.at(30_000) += 1;
        let starts: Vec<(i64, u32)> = series.since(0).map(|(s, n)| (s, *n)).collect();
        assert_eq!(starts, [(0, 3), (60_000, 1)]);
        // Three minutes kept: recording in minute 3 forgets minute 0.
        *series.at(3 * MINUTE_MS + 5) += 1;
        let starts: Vec<i64> = series.since(i64::MIN / 2).map(|(s, _)| s).collect();
        assert_eq!(starts, [60_000, 3 * MINUTE_MS]);
        // A gap in between, filled in later, stays in order.
        *series.at(2 * MINUTE_MS) += 7;
        let starts: Vec<i64> = series.since(0).map(|(s, _)| s).collect();
        assert_eq!(starts, [60_000, 2 * MINUTE_MS, 3 * MINUTE_MS]);
        series.forget(10 * MINUTE_MS);
        assert!(series.is_empty());
    }

    #[test]
    fn since_takes_whole_buckets_from_a_time_on() {
        let mut series: Series<u32> = Series::new(MINUTE_MS, 100);
        for minute in 0..5 {
            *series.at(minute * MINUTE_MS) += 1;
        }
        let from = |t: i64| series.since(t).count();
        assert_eq!(from(0), 5);
        assert_eq!(
            from(1),
            4,
            "the bucket the time falls in has started before it"
        );
        assert_eq!(from(2 * MINUTE_MS), 3);
        assert_eq!(from(5 * MINUTE_MS), 0);
    }

    #[test]
    fn times_before_the_origin_fall_in_earlier_buckets() {
        let mut series: Series<u32> = Series::new(MINUTE_MS, 100);
        *series.at(-1) += 1;
        *series.at(-MINUTE_MS) += 1;
        *series.at(-MINUTE_MS - 1) += 1;
        let starts: Vec<(i64, u32)> = series
            .since(-10 * MINUTE_MS)
            .map(|(s, n)| (s, *n))
            .collect();
        assert_eq!(starts, [(-2 * MINUTE_MS, 1), (-MINUTE_MS, 2)]);
    }

    #[tokio::test(start_paused = true)]
    async fn the_clock_counts_from_the_last_whole_wall_minute() {
        let now = Instant::now();
        // 12:00:45.250 on the wall clock.
        let wall = 1_800_000_000_000 - 1_800_000_000_000 % MINUTE_MS + 45_250;
        let clock = Clock::aligned(now, wall);
        assert_eq!(clock.ms(now), 45_250);
        assert_eq!(clock.ms(now + Duration::from_millis(14_750)), MINUTE_MS);
        assert_eq!(clock.ms(now - Duration::from_secs(50)), -4_750);
    }

    #[test]
    fn percentiles_are_exact_for_single_samples_and_close_otherwise() {
        let mut merged = Merged::default();
        assert_eq!(merged.percentile(0.5), None);
        let mut one = Histogram::default();
        one.record(400.0);
        merged.add(&one);
        assert_eq!(merged.percentile(0.5), Some(400.0));
        assert_eq!(merged.percentile(0.95), Some(400.0));

        let mut many = Histogram::default();
        for ms in 1..=100 {
            many.record(f64::from(ms) * 10.0);
        }
        many.record(0.0);
        many.record(f64::NAN);
        assert_eq!(many.count(), 102);
        let mut merged = Merged::default();
        merged.add(&many);
        let p50 = merged.percentile(0.5).unwrap();
        let p95 = merged.percentile(0.95).unwrap();
        assert!((p50 - 500.0).abs() / 500.0 < 0.2, "{p50}");
        assert!((p95 - 950.0).abs() / 950.0 < 0.2, "{p95}");
        assert!(
            merged.percentile(0.01).unwrap() < 1.0,
            "zeros have their own bin"
        );
    }

    #[test]
    fn merged_histograms_count_every_sample() {
        let mut a = Histogram::default();
        let mut b = Histogram::default();
        for _ in 0..3 {
            a.record(100.0);
        }
        b.record(5000.0);
        let mut merged = Merged::default();
        merged.add(&a);
        merged.add(&b);
        assert_eq!(merged.percentile(0.5), Some(100.0));
        assert_eq!(merged.percentile(0.75), Some(100.0));
        assert_eq!(merged.percentile(0.95), Some(5000.0));
    }
}
