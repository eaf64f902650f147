//! The providers Redline knows, one file each: default endpoints and regions, how the key is
//! sent, the usage response parser, the rate-limit header parser and the refusal classifier.
//! Everything here is pure: the HTTP itself is `fetch`'s and the poller's job.

mod anthropic;
mod azure_openai;
mod cerebras;
mod claude;
mod codex;
mod compat;
mod dashscope;
mod dashscope_coding;
mod deepseek;
mod fireworks;
mod gemini;
mod github_models;
mod groq;
mod kimi_code;
mod minimax;
mod mistral;
mod moonshot;
mod novita;
mod openai;
mod openrouter;
mod perplexity;
#[cfg(test)]
mod props;
mod siliconflow;
pub mod snapshot;
mod stepfun;
pub mod throttle;
mod together;
mod volcengine_ark;
mod volcengine_ark_coding;
pub mod wire;
mod xai;
mod zai;

use crate::providers::snapshot::{Snapshot, Window};
use crate::providers::throttle::Classification;
use http::HeaderMap;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// The one list of providers: each line names the id's variant, its text in the CLI, the
/// config file and the JSON API, and the adapter in its own file. Adding a provider is a line
/// here, its file, its fake and its fixtures.
macro_rules! providers {
    ($($variant:ident => $text:literal, $adapter:expr;)+) => {
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        pub enum ProviderId {
            $(#[serde(rename = $text)] $variant,)+
        }

        impl ProviderId {
            pub const ALL: [ProviderId; [$($text,)+].len()] = [$(ProviderId::$variant,)+];

            /// The id used in the CLI, the config file and the JSON API.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(ProviderId::$variant => $text,)+
                }
            }
        }

        /// The adapter for a provider id.
        pub fn provider(id: ProviderId) -> &'static dyn Provider {
            match id {
                $(ProviderId::$variant => &$adapter,)+
            }
        }
    };
}

providers! {
    KimiCode => "kimi-code", kimi_code::KimiCode;
    Moonshot => "moonshot", moonshot::Moonshot;
    Openai => "openai", openai::OpenAi;
    Anthropic => "anthropic", anthropic::Anthropic;
    Claude => "claude", claude::Claude;
    Openrouter => "openrouter", openrouter::OpenRouter;
    Deepseek => "deepseek", deepseek::DeepSeek;
    Zai => "zai", zai::Zai;
    Minimax => "minimax", minimax::MiniMax;
    Codex => "codex", codex::Codex;
    Gemini => "gemini", gemini::Gemini;
    Groq => "groq", groq::GROQ;
    Cerebras => "cerebras", cerebras::CEREBRAS;
    Xai => "xai", xai::XAI;
    Mistral => "mistral", mistral::MISTRAL;
    Together => "together", together::TOGETHER;
    Fireworks => "fireworks", fireworks::FIREWORKS;
    Dashscope => "dashscope", dashscope::DashScope;
    DashscopeCoding => "dashscope-coding", dashscope_coding::DashScopeCoding;
    VolcengineArk => "volcengine-ark", volcengine_ark::VolcengineArk;
    VolcengineArkCoding => "volcengine-ark-coding", volcengine_ark_coding::VolcengineArkCoding;
    Siliconflow => "siliconflow", siliconflow::SiliconFlow;
    GithubModels => "github-models", github_models::GithubModels;
    Perplexity => "perplexity", perplexity::Perplexity;
    AzureOpenai => "azure-openai", azure_openai::AzureOpenAi;
    Novita => "novita", novita::Novita;
    Stepfun => "stepfun", stepfun::StepFun;
}

impl ProviderId {
    /// What a person calls it.
    pub fn display_name(self) -> &'static str {
        provider(self).facts().name
    }

    /// What is data about it ([`Facts`]).
    pub fn facts(self) -> &'static Facts {
        provider(self).facts()
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

/// Everything about a provider that is data, declared once in its own file: what it is called,
/// how its keys look and where tools keep them, the hosts tools send them to, the API styles
/// and models it offers tools, and its sibling product.
#[derive(Debug)]
pub struct Facts {
    /// Known regions, the default first.
    pub regions: &'static [Region],
    /// How it wants the key.
    pub auth: AuthStyle,
    /// What a person calls it: "Kimi Code (coding plan)".
    pub name: &'static str,
    /// In sentences: "Kimi".
    pub short_name: &'static str,
    /// What its key looks like and where to get one, for the dashboard's "Add a key".
    pub key_hint: &'static str,
    /// How its keys begin, for telling a found key's provider (`sk-kimi-`); the longest
    /// match among all providers wins.
    pub key_prefixes: &'static [&'static str],
    /// Environment variables tools read its key from (`KIMI_API_KEY`).
    pub key_variables: &'static [&'static str],
    /// Hosts tools send its keys to besides its regions' API hosts (`api.kimi.ai`).
    pub more_hosts: &'static [&'static str],
    /// The paths of the API styles it offers tools on its host.
    pub tool_paths: ToolPaths,
    /// The model coding tools are told to use.
    pub models: Models,
    /// The product its keys are mistaken for (a Moonshot platform key given as Kimi Code).
    pub sibling: Option<ProviderId>,
    /// Why a 0 % from its usage endpoint beside forwarded requests is doubtful, when known.
    pub zero_doubt: Option<&'static str>,
    /// What Redline can show for it.
    pub shows: &'static [Shows],
}

/// What Redline can show for a provider.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Shows {
    /// Quota windows from its usage endpoint (5 hours, week, month, a key's credit limit).
    Windows,
    /// Money or credit left, from a balance endpoint or a wallet in the usage answer.
    Balance,
    /// Rate windows (requests and tokens per minute) from the headers of proxied answers.
    Headers,
}

impl Shows {
    pub fn describe(self) -> &'static str {
        match self {
            Shows::Windows => "quota windows",
            Shows::Balance => "balance",
            Shows::Headers => "rate limits from headers",
        }
    }
}

/// The API paths tools use on a provider's host (`None`: not offered). The Responses API is
/// offered on the OpenAI-compatible path when `responses` says so.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ToolPaths {
    pub openai: Option<&'static str>,
    pub anthropic: Option<&'static str>,
    pub responses: bool,
}

/// The models a tool is told to use with a provider.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Models {
    pub model: &'static str,
    /// For background work, where the provider has a smaller one.
    pub small_model: Option<&'static str>,
    pub context_window: u32,
    pub max_output_tokens: u32,
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
    /// `x-goog-api-key: <key>` (Google's Gemini API).
    GoogApiKey,
    /// `api-key: <key>` (Azure OpenAI).
    ApiKeyHeader,
}

impl AuthStyle {
    /// The header that carries the key.
    pub fn header(self) -> &'static str {
        match self {
            AuthStyle::Bearer | AuthStyle::RawAuthorization => "authorization",
            AuthStyle::XApiKey => "x-api-key",
            AuthStyle::GoogApiKey => "x-goog-api-key",
            AuthStyle::ApiKeyHeader => "api-key",
        }
    }

    /// What that header says for `key`.
    pub fn value(self, key: &str) -> String {
        match self {
            AuthStyle::Bearer => format!("Bearer {key}"),
            _ => key.to_owned(),
        }
    }

    /// The key in that header's value, if it is there in this style.
    pub fn key_in(self, value: &str) -> Option<&str> {
        match self {
            AuthStyle::Bearer => value.strip_prefix("Bearer "),
            _ => Some(value),
        }
    }
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
    /// What is data about the provider ([`Facts`]).
    fn facts(&self) -> &'static Facts;

    /// Known regions, the default first.
    fn regions(&self) -> &'static [Region] {
        self.facts().regions
    }

    fn auth_style(&self) -> AuthStyle {
        self.facts().auth
    }

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

    /// Where the usage answer also comes from on the same host when the usage URL answers 404
    /// (MiniMax's coding-plan route, kept beside its Token Plan route).
    fn legacy_usage_path(&self) -> Option<&'static str> {
        None
    }

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
