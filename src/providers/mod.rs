//! The providers Redline knows. Each gets its own file here (endpoints, usage parser, error
//! classifier) as provider support lands; for now this is the list of ids and what a user needs
//! to pick one.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

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
