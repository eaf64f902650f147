//! Moonshot's `GET /v1/users/me/balance` (docs/providers.md, "Moonshot open platform").

use super::{Ctx, Reply, Shapes, no_required_headers, serves_no_used_percent};
use axum::http::StatusCode;
use serde_json::json;

pub(super) const SHAPES: Shapes = Shapes {
    normal: balance,
    variant: balance,
    unauthorized,
    rate_limited,
    wrong_product: None,
    windows: &[],
    used_percent: serves_no_used_percent,
    missing_header: no_required_headers,
};

/// The documented body, values as in docs/providers.md (a balance has no "used", so
/// `used_percent` does not change it).
fn balance(_ctx: &Ctx) -> Reply {
    Reply::ok(json!({
        "code": 0,
        "data": {
            "available_balance": 49.58894,
            "voucher_balance": 46.58893,
            "cash_balance": 3.00001
        },
        "scode": "0x0",
        "status": true
    }))
}

/// 401 `invalid_authentication_error` (also what a Kimi Code key gets here).
fn unauthorized(_sent: Option<&str>) -> Reply {
    Reply::json(
        StatusCode::UNAUTHORIZED,
        json!({"error": {
            "type": "invalid_authentication_error",
            "message": "Invalid Authentication"
        }}),
    )
}

/// 429 `rate_limit_reached_error`, the RPM form, naming the wait.
fn rate_limited(retry_after_s: u64) -> Reply {
    let message = format!(
        "Your account org-fake<ak-fake> request reached organization max RPM: 3, \
         please try again after {retry_after_s} seconds"
    );
    Reply::json(
        StatusCode::TOO_MANY_REQUESTS,
        json!({"error": {"type": "rate_limit_reached_error", "message": message}}),
    )
}
