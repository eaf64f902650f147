//! `redline env ID`: the lines that point each supported tool at Redline's proxy for one
//! account, with the local token in place of the real key (which stays in the keyring, so a
//! rotation needs no change in any tool).

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

/// The script for one account. `token` is the local token, never a provider key.
pub fn render(
    id: &str,
    provider: ProviderId,
    listen: SocketAddr,
    token: &str,
    shell: Shell,
) -> String {
    let use_line = match shell {
        Shell::Sh => format!("eval \"$(redline env {id})\""),
        Shell::Fish => format!("redline env {id} --shell fish | source"),
        Shell::Powershell => format!("redline env {id} --shell powershell | Invoke-Expression"),
    };
    let header = vec![
        format!(
            "# Point your tools at Redline for {id} ({}).",
            provider.display_name()
        ),
        "# They present Redline's local token; Redline sends your real key from the keyring."
            .to_owned(),
        format!("# Use: {use_line}   (needs `redline daemon` or the desktop app running)"),
    ];
    script(header, id, provider, listen, token, shell)
}

/// The script for an account of the built-in demo, which `redline env` does not know: `token`
/// is the demo's, which opens only the demo and lasts while it runs.
pub fn render_demo(
    id: &str,
    provider: ProviderId,
    listen: SocketAddr,
    token: &str,
    shell: Shell,
) -> String {
    let header = vec![
        format!(
            "# Point your tools at Redline's demo for {id} (a simulated {}).",
            provider.display_name()
        ),
        "# The token below opens only this demo and changes each time it starts; no real key \
         is involved."
            .to_owned(),
    ];
    script(header, id, provider, listen, token, shell)
}

fn script(
    mut lines: Vec<String>,
    id: &str,
    provider: ProviderId,
    listen: SocketAddr,
    token: &str,
    shell: Shell,
) -> String {
    let base = format!("http://{listen}/{id}");
    let (openai, anthropic) = tool_paths(provider);
    if let Some(path) = openai {
        lines.push("# OpenAI SDKs, Codex, Roo Code and other OpenAI-compatible tools".into());
        lines.push(assign(shell, "OPENAI_BASE_URL", &format!("{base}{path}")));
        lines.push(assign(shell, "OPENAI_API_KEY", token));
    }
    if let Some(path) = anthropic {
        lines.push("# Claude Code and other Anthropic-compatible tools".into());
        lines.push(assign(
            shell,
            "ANTHROPIC_BASE_URL",
            &format!("{base}{path}"),
        ));
        lines.push(assign(shell, "ANTHROPIC_AUTH_TOKEN", token));
    }
    if matches!(provider, ProviderId::KimiCode | ProviderId::Moonshot) {
        let path = openai.unwrap_or_default();
        lines.push("# Kimi Code CLI".into());
        lines.push(assign(shell, "KIMI_BASE_URL", &format!("{base}{path}")));
        lines.push(assign(shell, "KIMI_API_KEY", token));
    }
    if let Some(path) = openai.or(anthropic) {
        lines.push(format!(
            "# OpenClaw: in ~/.openclaw/openclaw.json set models.providers.redline = {{\"baseUrl\": \"{base}{path}\", \"apiKey\": \"{token}\"}}"
        ));
    }
    lines.join("\n") + "\n"
}

#[cfg(test)]
mod tests {
    use super::*;

    const LISTEN: &str = "127.0.0.1:4290";

    #[test]
    fn kimi_code_points_every_tool_at_the_proxy() {
        let text = render(
            "kimi-main",
            ProviderId::KimiCode,
            LISTEN.parse().unwrap(),
            "rl_abc",
            Shell::Sh,
        );
        assert!(
            text.contains("export OPENAI_BASE_URL='http://127.0.0.1:4290/kimi-main/coding/v1'"),
            "{text}"
        );
        assert!(text.contains("export OPENAI_API_KEY='rl_abc'"));
        assert!(
            text.contains("export ANTHROPIC_BASE_URL='http://127.0.0.1:4290/kimi-main/coding/'")
        );
        assert!(text.contains("export ANTHROPIC_AUTH_TOKEN='rl_abc'"));
        assert!(text.contains("export KIMI_BASE_URL='http://127.0.0.1:4290/kimi-main/coding/v1'"));
        assert!(text.contains("OpenClaw"));
        assert!(
            text.lines()
                .all(|l| l.starts_with('#') || l.starts_with("export ")),
            "{text}"
        );
    }

    #[test]
    fn the_demo_script_says_its_token_opens_only_the_demo() {
        let text = render_demo(
            "kimi-demo",
            ProviderId::KimiCode,
            LISTEN.parse().unwrap(),
            "rl_demo",
            Shell::Sh,
        );
        assert!(text.starts_with("# Point your tools at Redline's demo for kimi-demo"));
        assert!(text.contains("opens only this demo"), "{text}");
        assert!(
            !text.contains("redline env"),
            "the CLI does not know the demo: {text}"
        );
        assert!(
            text.contains("export KIMI_BASE_URL='http://127.0.0.1:4290/kimi-demo/coding/v1'")
                && text.contains("export KIMI_API_KEY='rl_demo'"),
            "{text}"
        );
    }

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
    fn shells_have_their_own_syntax() {
        let listen = LISTEN.parse().unwrap();
        let fish = render("ant", ProviderId::Anthropic, listen, "rl_abc", Shell::Fish);
        assert!(
            fish.contains("set -gx ANTHROPIC_BASE_URL 'http://127.0.0.1:4290/ant'"),
            "{fish}"
        );
        assert!(!fish.contains("OPENAI_BASE_URL"));
        let ps = render(
            "oai",
            ProviderId::Openai,
            listen,
            "rl_abc",
            Shell::Powershell,
        );
        assert!(
            ps.contains("$env:OPENAI_BASE_URL = 'http://127.0.0.1:4290/oai/v1'"),
            "{ps}"
        );
        assert!(!ps.contains("ANTHROPIC"));
    }
}
