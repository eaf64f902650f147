//! The providers Redline knows, one file each: default endpoints and regions, how the key is
//! sent, the usage response parser, the rate-limit header parser and the refusal classifier.
//! Everything here is pure: the HTTP itself is `fetch`'s and the poller's job.

mod anthropic;
mod claude;
mod deepseek;
mod kimi_code;
mod minimax;
mod moonshot;
mod openai;
mod openrouter;
#[cfg(test)]
mod props;
pub mod snapshot;
pub mod throttle;
pub mod wire;
mod zai;

use crate::providers::snapshot::{Snapshot, Window};
use crate::providers::throttle::Classification;
use http::HeaderMap;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProviderId {
    KimiCode,
    Moonshot,
    Openai,
    Anthropic,
    Claude,
    Openrouter,
    Deepseek,
    Zai,
    Minimax,
}

impl ProviderId {
    pub const ALL: [ProviderId; 9] = [
        ProviderId::KimiCode,
        ProviderId::Moonshot,
        ProviderId::Openai,
        ProviderId::Anthropic,
        ProviderId::Claude,
        ProviderId::Openrouter,
        ProviderId::Deepseek,
        ProviderId::Zai,
        ProviderId::Minimax,
    ];

    /// The id used in the CLI, the config file and the JSON API.
    pub fn as_str(self) -> &'static str {
        match self {
            ProviderId::KimiCode => "kimi-code",
            ProviderId::Moonshot => "moonshot",
            ProviderId::Openai => "openai",
            ProviderId::Anthropic => "anthropic",
            ProviderId::Claude => "claude",
            ProviderId::Openrouter => "openrouter",
            ProviderId::Deepseek => "deepseek",
            ProviderId::Zai => "zai",
            ProviderId::Minimax => "minimax",
        }
    }

    /// What a person calls it.
    pub fn display_name(self) -> &'static str {
        match self {
            ProviderId::KimiCode => "Kimi Code (coding plan)",
            ProviderId::Moonshot => "Moonshot open platform",
            ProviderId::Openai => "OpenAI API",
            ProviderId::Anthropic => "Anthropic API",
            ProviderId::Claude => "Claude subscription",
            ProviderId::Openrouter => "OpenRouter",
            ProviderId::Deepseek => "DeepSeek",
            ProviderId::Zai => "Z.ai GLM coding plan",
            ProviderId::Minimax => "MiniMax",
        }
    }

    /// `kimi-code, moonshot, …` for error messages and help.
    pub fn list() -> String {
        ProviderId::ALL.map(ProviderId::as_str).join(", ")
    }
}

impl fmt::Display for ProviderId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One of a provider's hosts: the API base tools use, and the URL Redline polls for usage.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Region {
    /// `global`, `cn`.
    pub name: &'static str,
    /// What tools are pointed at (`https://api.moonshot.cn/v1`).
    pub api_base: &'static str,
    /// Polled for usage; for providers without a usage endpoint, a cheap authenticated GET
    /// (`/v1/models`) whose rate-limit headers fill the windows.
    pub usage_url: &'static str,
}

/// How a provider wants the key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthStyle {
    /// `Authorization: Bearer <key>`.
    Bearer,
    /// `Authorization: <key>` (Z.ai's usage endpoint).
    RawAuthorization,
    /// `x-api-key: <key>` (Anthropic).
    XApiKey,
}

/// What a usage parser may need besides the body.
#[derive(Clone, Copy, Debug)]
pub struct UsageContext {
    /// When the response arrived, for resets given as "seconds from now".
    pub now: Timestamp,
    /// The region polled (the default region for an unknown host such as a test fake); some
    /// bodies omit the currency, which follows from the region.
    pub region: &'static Region,
}

/// Why a successful-looking usage response could not be used.
#[derive(Clone, Debug, PartialEq)]
pub enum UsageError {
    /// The provider refused inside a 2xx body (Z.ai's `{"code":1001,"success":false}`).
    Refused(Classification),
    /// Not a shape Redline knows; the text says what was missing, never the body.
    Shape(String),
}

pub trait Provider: Send + Sync {
    fn id(&self) -> ProviderId;

    /// Known regions, the default first.
    fn regions(&self) -> &'static [Region];

    fn auth_style(&self) -> AuthStyle;

    /// Headers sent with every request besides the key (`anthropic-version`).
    fn extra_headers(&self) -> &'static [(&'static str, &'static str)] {
        &[]
    }

    /// Parses a 2xx response from the usage URL into a snapshot.
    fn parse_usage(&self, body: &[u8], context: &UsageContext) -> Result<Snapshot, UsageError>;

    /// Windows from rate-limit response headers (OpenAI, Anthropic); none by default.
    fn header_windows(&self, _headers: &HeaderMap, _now: Timestamp) -> Vec<Window> {
        Vec::new()
    }

    /// Names the cause of a refusal: any non-2xx answer, from the usage URL or, through the
    /// proxy, from any endpoint.
    fn classify(
        &self,
        status: u16,
        headers: &HeaderMap,
        body: &[u8],
        now: Timestamp,
    ) -> Classification;

    /// What to tell the user when the usage URL answers 404: the key is for another product.
    fn wrong_product_hint(&self) -> Option<&'static str> {
        None
    }

    /// The shortest interval at which the usage URL may be polled.
    fn min_poll_interval(&self) -> Duration {
        MIN_POLL_INTERVAL
    }

    /// The concurrency limit of an account tier the user set (`accounts.<id>.tier`), for
    /// providers whose usage answer does not say it (Moonshot).
    fn tier_concurrency(&self, _tier: u64) -> Option<u64> {
        None
    }
}

/// No provider is polled more often than this, whatever the settings say.
pub const MIN_POLL_INTERVAL: Duration = Duration::from_secs(15);

/// The adapter for a provider id.
pub fn provider(id: ProviderId) -> &'static dyn Provider {
    match id {
        ProviderId::KimiCode => &kimi_code::KimiCode,
        ProviderId::Moonshot => &moonshot::Moonshot,
        ProviderId::Openai => &openai::OpenAi,
        ProviderId::Anthropic => &anthropic::Anthropic,
        ProviderId::Claude => &claude::Claude,
        ProviderId::Openrouter => &openrouter::OpenRouter,
        ProviderId::Deepseek => &deepseek::DeepSeek,
        ProviderId::Zai => &zai::Zai,
        ProviderId::Minimax => &minimax::MiniMax,
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("unknown provider {0:?}; choose one of: {list}", list = ProviderId::list())]
pub struct UnknownProvider(String);

impl FromStr for ProviderId {
    type Err = UnknownProvider;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        ProviderId::ALL
            .into_iter()
            .find(|p| p.as_str() == text)
            .ok_or_else(|| UnknownProvider(text.chars().take(40).collect()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_through_text_and_serde() {
        for provider in ProviderId::ALL {
            assert_eq!(provider.as_str().parse::<ProviderId>().unwrap(), provider);
            let json = serde_json::to_string(&provider).unwrap();
            assert_eq!(json, format!("\"{}\"", provider.as_str()));
        }
    }

    #[test]
    fn unknown_provider_lists_the_valid_ones() {
        let err = "kimi".parse::<ProviderId>().unwrap_err().to_string();
        assert!(
            err.contains("\"kimi\"") && err.contains("kimi-code, moonshot"),
            "{err}"
        );
    }
}
