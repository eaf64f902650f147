//! What pointing a tool at Redline's proxy takes for one account: the API styles and paths a
//! provider offers tools, its models, the [`Target`] a tool is connected to, and the SDKs'
//! variables, with a tool token in place of the real key (which stays in the keyring, so a
//! rotation needs no change in any tool). `connect::setup` makes `redline env`'s text of them.

use crate::keys::secret::Secret;
use crate::providers::{Models, ProviderId};
use crate::tools::connect::{ApiStyle, EditError, Target, Tool, route_base_url};
use std::net::SocketAddr;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Shell {
    Sh,
    Fish,
    Powershell,
}

/// The API styles a provider offers tools, each with its path on the provider's host (and
/// on Redline's route for the account), from the provider's [`crate::providers::Facts`].
pub fn offered_styles(provider: ProviderId) -> Vec<(ApiStyle, &'static str)> {
    let paths = provider.facts().tool_paths;
    let mut styles = Vec::new();
    if let Some(path) = paths.openai {
        styles.push((ApiStyle::OpenAiChat, path));
        if paths.responses {
            styles.push((ApiStyle::OpenAiResponses, path));
        }
    }
    if let Some(path) = paths.anthropic {
        styles.push((ApiStyle::AnthropicMessages, path));
    }
    styles
}

/// The models a tool is told to use with a provider.
pub fn models(provider: ProviderId) -> Models {
    provider.facts().models
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
    let paths = provider.facts().tool_paths;
    let base = format!("http://{listen}/{id}");
    let model = models(provider).model;
    let lines = match sdk {
        Sdk::OpenAi => vec![
            format!("# OpenAI SDKs for {id}: model \"{model}\""),
            assign(
                shell,
                "OPENAI_BASE_URL",
                &format!("{base}{}", paths.openai?),
            ),
            assign(shell, "OPENAI_API_KEY", token),
        ],
        Sdk::Anthropic => vec![
            format!("# Anthropic SDKs for {id}: model \"{model}\""),
            assign(
                shell,
                "ANTHROPIC_BASE_URL",
                &format!("{base}{}", paths.anthropic?),
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
