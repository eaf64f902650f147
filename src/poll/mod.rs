//! Polling: asking each provider how much of its quota is used. `fetch` is outbound HTTP,
//! `usage` one usage call and its answer, `poller` a task per account (interval, jitter,
//! backoff, Retry-After), `monitor` folds every poller into one `Status` on a watch channel.

pub mod fetch;
pub mod monitor;
pub mod poller;
pub mod usage;
