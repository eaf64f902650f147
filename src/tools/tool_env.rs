//! What pointing a tool at Redline's proxy takes for one account: the API styles and paths a
//! provider offers tools, its models, the [`Target`] a tool is connected to, and the SDKs'
//! variables, with a tool token in place of the real key (which stays in the keyring, so a
//! rotation needs no change in any tool). `connect::setup` makes `redline env`'s text of them.

use crate::keys::secret::Secret;
use crate::providers::ProviderId;
use crate::tools::connect::{ApiStyle, EditError, Target, Tool, route_base_url};
use std::net::SocketAddr;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Shell {
    Sh,
    Fish,
    Powershell,
}

/// The API paths tools use on a provider's host: OpenAI-compatible and Anthropic-compatible.
pub fn tool_paths(provider: ProviderId) -> (Option<&'static str>, Option<&'static str>) {
    match provider {
        ProviderId::KimiCode => (Some("/coding/v1"), Some("/coding/")),
        ProviderId::Moonshot => (Some("/v1"), Some("/anthropic")),
        ProviderId::Openai => (Some("/v1"), None),
        ProviderId::Anthropic | ProviderId::Claude => (None, Some("")),
        ProviderId::Openrouter => (Some("/api/v1"), None),
        ProviderId::Deepseek => (Some(""), Some("/anthropic")),
        ProviderId::Zai => (Some("/api/coding/paas/v4"), Some("/api/anthropic")),
        ProviderId::Minimax => (Some("/v1"), Some("/anthropic")),
    }
}

/// The API styles a provider offers tools, each with its path on the provider's host (and
/// on Redline's route for the account).
pub fn offered_styles(provider: ProviderId) -> Vec<(ApiStyle, &'static str)> {
    let (openai, anthropic) = tool_paths(provider);
    let mut styles = Vec::new();
    if let Some(path) = openai {
        styles.push((ApiStyle::OpenAiChat, path));
        // Only OpenAI itself serves the Responses API among these providers.
        if provider == ProviderId::Openai {
            styles.push((ApiStyle::OpenAiResponses, path));
        }
    }
    if let Some(path) = anthropic {
        styles.push((ApiStyle::AnthropicMessages, path));
    }
    styles
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

/// Each provider's model for coding tools. (Issue 15 moves this into each provider's file.)
pub fn models(provider: ProviderId) -> Models {
    let m = |model, small_model, context_window, max_output_tokens| Models {
        model,
        small_model,
        context_window,
        max_output_tokens,
    };
    match provider {
        ProviderId::KimiCode => m("kimi-for-coding", None, 262_144, 32_768),
        ProviderId::Moonshot => m("kimi-k2-0905-preview", None, 262_144, 16_384),
        ProviderId::Openai => m("gpt-5", Some("gpt-5-mini"), 400_000, 128_000),
        ProviderId::Anthropic | ProviderId::Claude => m(
            "claude-sonnet-4-5",
            Some("claude-haiku-4-5"),
            200_000,
            64_000,
        ),
        ProviderId::Openrouter => m("moonshotai/kimi-k2", None, 131_072, 16_384),
        ProviderId::Deepseek => m("deepseek-chat", None, 128_000, 8_192),
        ProviderId::Zai => m("glm-4.6", Some("glm-4.5-air"), 200_000, 32_768),
        ProviderId::Minimax => m("MiniMax-M2", None, 204_800, 32_768),
    }
}

/// What `tool` is pointed at for `account` (a `provider` account) on the Redline listening on
/// `address`: the tool's best API style the provider offers, its route, the provider's models
/// and the tool's own token.
pub fn target(
    tool: Tool,
    account: &str,
    provider: ProviderId,
    address: SocketAddr,
    token: Secret,
) -> Result<Target, EditError> {
    let offered = offered_styles(provider);
    let styles: Vec<ApiStyle> = offered.iter().map(|(s, _)| *s).collect();
    let names = |styles: &[ApiStyle]| {
        styles
            .iter()
            .map(|s| s.name())
            .collect::<Vec<_>>()
            .join(" and ")
    };
    let style = tool
        .pick_style(&styles)
        .ok_or_else(|| EditError::NoCommonStyle {
            tool: tool.display_name(),
            speaks: names(tool.styles()).replace(" and ", " or "),
            provider: provider.display_name(),
            offers: names(&styles),
        })?;
    let path = offered
        .iter()
        .find(|(s, _)| *s == style)
        .map(|(_, p)| *p)
        .unwrap_or_default();
    let models = models(provider);
    Ok(Target {
        account: account.to_owned(),
        provider,
        base_url: route_base_url(address, account, path),
        style,
        model: models.model.to_owned(),
        small_model: models.small_model.map(str::to_owned),
        context_window: models.context_window,
        max_output_tokens: models.max_output_tokens,
        token,
    })
}

/// Which SDK's variables [`sdk_lines`] prints.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sdk {
    /// `OPENAI_BASE_URL`, `OPENAI_API_KEY`.
    OpenAi,
    /// `ANTHROPIC_BASE_URL`, `ANTHROPIC_AUTH_TOKEN`.
    Anthropic,
}

/// The variables one SDK reads for account `id`, with the model to ask for in a comment; None
/// when the provider offers no route of that style.
pub fn sdk_lines(
    sdk: Sdk,
    id: &str,
    provider: ProviderId,
    listen: SocketAddr,
    token: &str,
    shell: Shell,
) -> Option<String> {
    let (openai, anthropic) = tool_paths(provider);
    let base = format!("http://{listen}/{id}");
    let model = models(provider).model;
    let lines = match sdk {
        Sdk::OpenAi => vec![
            format!("# OpenAI SDKs for {id}: model \"{model}\""),
            assign(shell, "OPENAI_BASE_URL", &format!("{base}{}", openai?)),
            assign(shell, "OPENAI_API_KEY", token),
        ],
        Sdk::Anthropic => vec![
            format!("# Anthropic SDKs for {id}: model \"{model}\""),
            assign(
                shell,
                "ANTHROPIC_BASE_URL",
                &format!("{base}{}", anthropic?),
            ),
            assign(shell, "ANTHROPIC_AUTH_TOKEN", token),
        ],
    };
    Some(lines.join("\n") + "\n")
}

fn assign(shell: Shell, name: &str, value: &str) -> String {
    match shell {
        Shell::Sh => format!("export {name}='{value}'"),
        Shell::Fish => format!("set -gx {name} '{value}'"),
        Shell::Powershell => format!("$env:{name} = '{value}'"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LISTEN: &str = "127.0.0.1:4290";

    #[test]
    fn each_tool_gets_the_style_it_speaks_best_that_the_provider_offers() {
        let token = || Secret::parse("rl_0123456789abcdef").unwrap();
        let listen: SocketAddr = LISTEN.parse().unwrap();
        let claude = target(Tool::ClaudeCode, "k", ProviderId::KimiCode, listen, token()).unwrap();
        assert_eq!(claude.style, ApiStyle::AnthropicMessages);
        assert_eq!(claude.base_url, "http://127.0.0.1:4290/k/coding/");
        assert_eq!(claude.model, "kimi-for-coding");
        let aider = target(Tool::Aider, "k", ProviderId::KimiCode, listen, token()).unwrap();
        assert_eq!(aider.base_url, "http://127.0.0.1:4290/k/coding/v1");
        let codex = target(Tool::Codex, "o", ProviderId::Openai, listen, token()).unwrap();
        assert_eq!(codex.style, ApiStyle::OpenAiResponses);
        let err = target(Tool::Codex, "k", ProviderId::KimiCode, listen, token())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("OpenAI responses") && err.contains("Kimi Code"),
            "{err}"
        );
        let err = target(Tool::Aider, "a", ProviderId::Anthropic, listen, token())
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("aider speaks OpenAI chat completions; Anthropic"),
            "{err}"
        );
    }

    #[test]
    fn shells_have_their_own_syntax_and_each_sdk_its_route() {
        let listen = LISTEN.parse().unwrap();
        let fish = sdk_lines(
            Sdk::Anthropic,
            "ant",
            ProviderId::Anthropic,
            listen,
            "rl_abc",
            Shell::Fish,
        )
        .unwrap();
        assert!(
            fish.contains("set -gx ANTHROPIC_BASE_URL 'http://127.0.0.1:4290/ant'"),
            "{fish}"
        );
        assert_eq!(
            sdk_lines(
                Sdk::OpenAi,
                "ant",
                ProviderId::Anthropic,
                listen,
                "rl_abc",
                Shell::Fish
            ),
            None,
            "Anthropic offers no OpenAI-compatible route"
        );
        let ps = sdk_lines(
            Sdk::OpenAi,
            "oai",
            ProviderId::Openai,
            listen,
            "rl_abc",
            Shell::Powershell,
        )
        .unwrap();
        assert!(
            ps.contains("$env:OPENAI_BASE_URL = 'http://127.0.0.1:4290/oai/v1'"),
            "{ps}"
        );
        let sh = sdk_lines(
            Sdk::OpenAi,
            "kimi-main",
            ProviderId::KimiCode,
            listen,
            "rl_abc",
            Shell::Sh,
        )
        .unwrap();
        assert_eq!(
            sh,
            "# OpenAI SDKs for kimi-main: model \"kimi-for-coding\"\n\
             export OPENAI_BASE_URL='http://127.0.0.1:4290/kimi-main/coding/v1'\n\
             export OPENAI_API_KEY='rl_abc'\n"
        );
    }
}
