//! Novita AI's `GET /v3/user/balance` (docs/providers.md, "Novita AI"): amounts in 0.0001 USD.

use super::{Ctx, Reply, Shapes, no_required_headers, serves_no_used_percent};
use axum::http::StatusCode;
use serde_json::json;

pub(super) const SHAPES: Shapes = Shapes {
    normal: balance,
    variant: balance_numbers,
    unauthorized,
    rate_limited,
    wrong_product: None,
    windows: &[],
    used_percent: serves_no_used_percent,
    missing_header: no_required_headers,
};

/// A balance has no "used", so `used_percent` does not change it.
fn balance(_ctx: &Ctx) -> Reply {
    Reply::ok(
        json!({"availableBalance": "123456", "cashBalance": "103456",
                     "creditLimit": "0", "outstandingInvoices": "0"}),
    )
}

/// The same fields as numbers.
fn balance_numbers(_ctx: &Ctx) -> Reply {
    Reply::ok(json!({"availableBalance": 123_456, "cashBalance": 103_456,
                     "creditLimit": 0, "outstandingInvoices": 0}))
}

fn unauthorized(_sent: Option<&str>) -> Reply {
    Reply::json(
        StatusCode::UNAUTHORIZED,
        json!({"code": 401, "reason": "INVALID_API_KEY", "message": "invalid api key"}),
    )
}

fn rate_limited(_retry_after_s: u64) -> Reply {
    Reply::json(
        StatusCode::TOO_MANY_REQUESTS,
        json!({"code": 429, "reason": "RATE_LIMIT_EXCEEDED", "message": "rate limit exceeded"}),
    )
}
