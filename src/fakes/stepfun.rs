//! StepFun's `GET /v1/accounts` (docs/providers.md, "StepFun"): the balance and its parts in CNY.

use super::{Ctx, Reply, Shapes, no_required_headers, serves_no_used_percent};
use axum::http::StatusCode;
use serde_json::json;

pub(super) const SHAPES: Shapes = Shapes {
    normal: accounts,
    variant: accounts,
    unauthorized,
    rate_limited,
    wrong_product: None,
    windows: &[],
    used_percent: serves_no_used_percent,
    missing_header: no_required_headers,
};

/// A balance has no "used", so `used_percent` does not change it.
fn accounts(_ctx: &Ctx) -> Reply {
    Reply::ok(
        json!({"object": "account", "type": "personal", "balance": "100.50",
                     "total_cash_balance": "90.50", "total_voucher_balance": "10.00"}),
    )
}

/// OpenAI-style error bodies (placeholders: StepFun's are not captured).
fn unauthorized(_sent: Option<&str>) -> Reply {
    Reply::json(
        StatusCode::UNAUTHORIZED,
        json!({"error": {"message": "Incorrect API key provided", "type": "invalid_api_key"}}),
    )
}

fn rate_limited(_retry_after_s: u64) -> Reply {
    Reply::json(
        StatusCode::TOO_MANY_REQUESTS,
        json!({"error": {"message": "Rate limit reached", "type": "rate_limit_exceeded"}}),
    )
}
