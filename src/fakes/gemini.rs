//! The Gemini API has no usage endpoint: Redline polls `GET /v1beta/models` with
//! `x-goog-api-key` to prove the key (docs/providers.md, "Google Gemini API"). Errors are
//! Google's `{"error":{"code","message","status","details"}}`.

use super::{Ctx, Reply, Shapes, no_required_headers, serves_no_used_percent};
use axum::http::StatusCode;
use serde_json::{Value, json};

pub(super) const SHAPES: Shapes = Shapes {
    normal: models,
    variant: models,
    unauthorized,
    rate_limited,
    wrong_product: None,
    windows: &[],
    used_percent: serves_no_used_percent,
    missing_header: no_required_headers,
};

/// One page of the model list; nothing in it depends on `used_percent`.
fn models(_ctx: &Ctx) -> Reply {
    let model = |id: &str, name: &str| {
        json!({
            "name": format!("models/{id}"),
            "version": "001",
            "displayName": name,
            "inputTokenLimit": 1_048_576,
            "outputTokenLimit": 65_536,
            "supportedGenerationMethods": ["generateContent", "countTokens"]
        })
    };
    Reply::ok(json!({
        "models": [
            model("gemini-2.5-pro", "Gemini 2.5 Pro"),
            model("gemini-2.5-flash", "Gemini 2.5 Flash")
        ],
        "nextPageToken": "Chxtb2RlbHMvZ2VtaW5pLTIuNS1mbGFzaA=="
    }))
}

fn error(status: StatusCode, state: &str, message: &str, details: Value) -> Reply {
    Reply::json(
        status,
        json!({"error": {
            "code": status.as_u16(),
            "message": message,
            "status": state,
            "details": details
        }}),
    )
}

/// A wrong key: 400 `API_KEY_INVALID`; none: 403 `PERMISSION_DENIED`.
fn unauthorized(sent: Option<&str>) -> Reply {
    match sent {
        Some(_) => error(
            StatusCode::BAD_REQUEST,
            "INVALID_ARGUMENT",
            "API key not valid. Please pass a valid API key.",
            json!([{
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": "API_KEY_INVALID",
                "domain": "googleapis.com",
                "metadata": {"service": "generativelanguage.googleapis.com"}
            }]),
        ),
        None => error(
            StatusCode::FORBIDDEN,
            "PERMISSION_DENIED",
            "Method doesn't allow unregistered callers (callers without established identity). \
             Please use API Key or other form of API consumer identity to call this API.",
            json!([]),
        ),
    }
}

/// 429 on the free tier's requests per minute, with the wait in `RetryInfo`.
fn rate_limited(retry_after_s: u64) -> Reply {
    error(
        StatusCode::TOO_MANY_REQUESTS,
        "RESOURCE_EXHAUSTED",
        &format!(
            "You exceeded your current quota, please check your plan and billing details.\n* \
             Quota exceeded for metric: generativelanguage.googleapis.com/\
             generate_content_free_tier_requests, limit: 10, model: gemini-2.5-flash\nPlease \
             retry in {retry_after_s}s."
        ),
        json!([
            {
                "@type": "type.googleapis.com/google.rpc.QuotaFailure",
                "violations": [{
                    "quotaMetric": "generativelanguage.googleapis.com/generate_content_free_tier_requests",
                    "quotaId": "GenerateRequestsPerMinutePerProjectPerModel-FreeTier",
                    "quotaDimensions": {"location": "global", "model": "gemini-2.5-flash"},
                    "quotaValue": "10"
                }]
            },
            {
                "@type": "type.googleapis.com/google.rpc.RetryInfo",
                "retryDelay": format!("{retry_after_s}s")
            }
        ]),
    )
}
