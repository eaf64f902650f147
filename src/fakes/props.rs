//! Seeds for the providers' property tests (`providers/props.rs`): the usage answers the fakes
//! send, as valid bodies to mutate.

use super::{Ctx, shapes};
use crate::providers::ProviderId;
use jiff::Timestamp;
use serde_json::Value;

/// The fake's usage answers for `id` (its usual shape and its variant), with `used_percent`
/// of each quota used and the concurrency limit `limit`.
pub(crate) fn usage_bodies(
    id: ProviderId,
    used_percent: f64,
    limit: u64,
    now: Timestamp,
) -> Vec<Value> {
    let ctx = Ctx {
        used_percent,
        concurrency_limit: limit,
        now,
        key: "sk-fake-0123456789abcdef0123456789",
    };
    let shapes = shapes(id);
    vec![(shapes.normal)(&ctx).body, (shapes.variant)(&ctx).body]
}
