//! SiliconFlow's `GET /v1/user/info` (docs/providers.md, "SiliconFlow"): balances as decimal
//! strings inside `{"code":20000,"status":true,"data":{...}}`.

use super::{Ctx, Reply, Shapes, no_required_headers, serves_no_used_percent};
use axum::http::StatusCode;
use serde_json::json;

pub(super) const SHAPES: Shapes = Shapes {
    normal: user_info,
    variant: user_info,
    unauthorized,
    rate_limited,
    wrong_product: None,
    windows: &[],
    used_percent: serves_no_used_percent,
    missing_header: no_required_headers,
};

/// A balance has no "used", so `used_percent` does not change it.
fn user_info(_ctx: &Ctx) -> Reply {
    Reply::ok(json!({
        "code": 20000, "message": "OK", "status": true,
        "data": {"id": "userid", "name": "username", "image": "", "email": "", "isAdmin": false,
                 "balance": "0.88", "status": "normal", "introduction": "", "role": "",
                 "chargeBalance": "88.00", "totalBalance": "88.88"}
    }))
}

fn unauthorized(_sent: Option<&str>) -> Reply {
    Reply::json(
        StatusCode::UNAUTHORIZED,
        json!({"code": 30014, "message": "Token is invalid.", "data": null}),
    )
}

fn rate_limited(_retry_after_s: u64) -> Reply {
    Reply::json(
        StatusCode::TOO_MANY_REQUESTS,
        json!({"code": 42900, "message": "Request was rejected due to rate limiting.", "data": null}),
    )
}
