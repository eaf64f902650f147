//! What each tool needs to go through Redline for one account, as text to paste: `redline env
//! ACCOUNT [--tool TOOL]`, the dashboard's setup panel (`GET /api/v1/keys/{id}/setup`) and the
//! tray's "Copy setup for tools" all print this. For one tool, exactly what it needs (its
//! config file's content, as `connect` would write it into an empty file, or an SDK's
//! variables); for all, one labelled block per tool, commented out, since no set of shell
//! variables suits every tool in a shell.

use super::Tool;
use super::service::config_path;
use crate::error::Error;
use crate::keys::secret::Secret;
use crate::keys::token::{TokenStore, ToolName};
use crate::providers::ProviderId;
use crate::tools::tool_env::{self, Sdk, Shell};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;

/// What `--tool` names: a tool Redline can connect, or an SDK's variables.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EnvFor {
    Tool(Tool),
    Sdk(Sdk),
}

pub const OPENAI_SDK: &str = "openai-sdk";
pub const ANTHROPIC_SDK: &str = "anthropic-sdk";

/// Parses a `--tool` (or `?tool=`) value.
pub fn parse_for(name: &str) -> Result<EnvFor, String> {
    match name {
        OPENAI_SDK => Ok(EnvFor::Sdk(Sdk::OpenAi)),
        ANTHROPIC_SDK => Ok(EnvFor::Sdk(Sdk::Anthropic)),
        _ => Tool::from_name(name).map(EnvFor::Tool).ok_or_else(|| {
            format!(
                "unknown tool {name:?}; known: {}, {OPENAI_SDK}, {ANTHROPIC_SDK}",
                Tool::ALL.map(Tool::name).join(", ")
            )
        }),
    }
}

/// The tokens the text hands out: each tool's own, and the default one for the SDKs.
#[derive(Clone, Debug)]
pub struct SetupTokens {
    pub tools: BTreeMap<Tool, Secret>,
    pub sdk: Secret,
}

impl SetupTokens {
    /// The same token everywhere (the demo's, which opens only the demo).
    pub fn same(token: Secret) -> SetupTokens {
        SetupTokens {
            tools: Tool::ALL.map(|t| (t, token.clone())).into_iter().collect(),
            sdk: token,
        }
    }

    /// This install's tokens from the keyring, each tool's made on first use. Blocks.
    pub fn load(store: &TokenStore) -> Result<SetupTokens, Error> {
        let have = store.tool_tokens()?;
        let mut tools = BTreeMap::new();
        for tool in Tool::ALL {
            let name: ToolName = tool
                .name()
                .parse()
                .map_err(|e| Error::Environment(format!("{e}")))?;
            let token = match have.get(&name) {
                Some(token) => token.clone(),
                None => store.tool_token(&name)?,
            };
            tools.insert(tool, token);
        }
        let sdk = match have.get(&ToolName::default_tool()) {
            Some(token) => token.clone(),
            None => store.default_tool_token()?,
        };
        Ok(SetupTokens { tools, sdk })
    }

    /// Only the token `what` needs (made on first use): the tool's own, or the default one
    /// for an SDK. Blocks.
    pub fn load_for(store: &TokenStore, what: EnvFor) -> Result<SetupTokens, Error> {
        let sdk = store.default_tool_token()?;
        let mut tools = BTreeMap::new();
        if let EnvFor::Tool(tool) = what {
            let name: ToolName = tool
                .name()
                .parse()
                .map_err(|e| Error::Environment(format!("{e}")))?;
            tools.insert(tool, store.tool_token(&name)?);
        }
        Ok(SetupTokens { tools, sdk })
    }

    fn tool(&self, tool: Tool) -> Secret {
        self.tools
            .get(&tool)
            .cloned()
            .unwrap_or_else(|| self.sdk.clone())
    }
}

/// The account the text is for.
#[derive(Clone, Copy, Debug)]
pub struct SetupFor<'a> {
    pub account: &'a str,
    pub provider: ProviderId,
    /// The running Redline.
    pub address: SocketAddr,
    /// An account of the built-in demo: its token opens only the demo, and the CLI does not
    /// know it.
    pub demo: bool,
}

/// A tool's config file content for the account (what `connect` would write into an empty
/// file), or why the tool cannot use it.
pub fn snippet(tool: Tool, of: SetupFor<'_>, token: Secret) -> Result<String, String> {
    let target = tool_env::target(tool, of.account, of.provider, of.address, token)
        .map_err(|e| e.to_string())?;
    let edit = super::plan(tool, None, &target).map_err(|e| e.to_string())?;
    Ok(String::from_utf8_lossy(&edit.bytes).into_owned())
}

/// Exactly what one tool or SDK needs, nothing else (a comment would break a strict JSON
/// file).
pub fn one(
    what: EnvFor,
    of: SetupFor<'_>,
    tokens: &SetupTokens,
    shell: Shell,
) -> Result<String, String> {
    match what {
        EnvFor::Tool(tool) => snippet(tool, of, tokens.tool(tool)),
        EnvFor::Sdk(sdk) => tool_env::sdk_lines(
            sdk,
            of.account,
            of.provider,
            of.address,
            tokens.sdk.expose(),
            shell,
        )
        .ok_or_else(|| {
            format!(
                "{} offers no {} route",
                of.provider.display_name(),
                if sdk == Sdk::OpenAi {
                    "OpenAI-compatible"
                } else {
                    "Anthropic-compatible"
                }
            )
        }),
    }
}

/// One labelled block per tool (each tool's file under `home`) and per SDK, all commented
/// out, with which tools `redline connect` sets up.
pub fn all(of: SetupFor<'_>, tokens: &SetupTokens, shell: Shell, home: &Path) -> String {
    let id = of.account;
    let mut blocks = Vec::new();
    let mut suited = Vec::new();
    for tool in Tool::ALL {
        blocks.push(String::new());
        blocks.push(format!(
            "# ==== {} ({}): {} ====",
            tool.display_name(),
            tool.name(),
            config_path(tool, home).display()
        ));
        match snippet(tool, of, tokens.tool(tool)) {
            Ok(text) => {
                suited.push(tool.name());
                blocks.extend(
                    text.lines()
                        .map(|l| format!("#   {l}").trim_end().to_owned()),
                );
            }
            Err(why) => {
                let why = why.trim_end_matches(". Nothing was written");
                blocks.push(format!("#   not for this account: {why}"));
            }
        }
    }
    let mut out = if of.demo {
        vec![
            format!(
                "# Redline's demo for {id} (a simulated {}) on {}: what each tool needs.",
                of.provider.display_name(),
                of.address
            ),
            "# The token below opens only this demo and changes each time it starts; no real key is involved."
                .to_owned(),
        ]
    } else {
        vec![
            format!(
                "# Redline for {id} ({}) on {}: what each tool needs, with its own tool token.",
                of.provider.display_name(),
                of.address
            ),
            format!(
                "# `redline connect TOOL {id}` sets up {} for you (`redline disconnect TOOL` undoes it).",
                suited.join(", ")
            ),
            format!("# `redline env {id} --tool TOOL` prints one block ready to use."),
        ]
    };
    out.extend(blocks);
    for (sdk, name, label) in [
        (Sdk::OpenAi, OPENAI_SDK, "OpenAI SDKs"),
        (Sdk::Anthropic, ANTHROPIC_SDK, "Anthropic SDKs"),
    ] {
        let Some(lines) =
            tool_env::sdk_lines(sdk, id, of.provider, of.address, tokens.sdk.expose(), shell)
        else {
            continue;
        };
        out.push(String::new());
        out.push(if of.demo {
            format!("# ==== {label} ({name}) ====")
        } else {
            format!("# ==== {label} ({name}): eval \"$(redline env {id} --tool {name})\" ====")
        });
        out.extend(lines.lines().map(|l| {
            if l.starts_with('#') {
                l.to_owned()
            } else {
                format!("#   {l}")
            }
        }));
    }
    out.join("\n") + "\n"
}

#[cfg(test)]
mod tests {
    use super::*;

    fn of(demo: bool) -> SetupFor<'static> {
        SetupFor {
            account: "kimi-main",
            provider: ProviderId::KimiCode,
            address: "127.0.0.1:4290".parse().unwrap(),
            demo,
        }
    }

    fn tokens() -> SetupTokens {
        let mut tokens = SetupTokens::same(Secret::parse("rl_default0123456789").unwrap());
        tokens.tools.insert(
            Tool::OpenClaw,
            Secret::parse("rl_openclaw0123456789").unwrap(),
        );
        tokens
    }

    #[test]
    fn every_tool_has_a_commented_block_with_its_own_token() {
        let text = all(of(false), &tokens(), Shell::Sh, Path::new("/home/u"));
        assert!(
            text.lines().all(|l| l.is_empty() || l.starts_with('#')),
            "eval changes nothing: {text}"
        );
        assert!(
            text.contains("# ==== OpenClaw (openclaw): /home/u/.openclaw/openclaw.json ===="),
            "{text}"
        );
        assert!(text.contains("rl_openclaw0123456789"), "{text}");
        assert!(
            text.contains("sets up claude-code, openclaw, kimi, opencode, aider for you"),
            "{text}"
        );
        assert!(text.contains("#   not for this account: Codex speaks OpenAI responses"));
        assert!(
            text.contains("#   export OPENAI_BASE_URL='http://127.0.0.1:4290/kimi-main/coding/v1'")
        );
        assert!(text.contains("eval \"$(redline env kimi-main --tool openai-sdk)\""));
    }

    #[test]
    fn the_demo_says_its_token_opens_only_the_demo_and_names_no_command() {
        let text = all(of(true), &tokens(), Shell::Fish, Path::new("/home/u"));
        assert!(text.contains("opens only this demo"), "{text}");
        assert!(
            !text.contains("redline env") && !text.contains("redline connect"),
            "{text}"
        );
        assert!(
            text.contains("#   set -gx OPENAI_API_KEY 'rl_default0123456789'"),
            "{text}"
        );
    }

    #[test]
    fn one_tool_gets_exactly_its_file_or_variables() {
        let openclaw = one(
            EnvFor::Tool(Tool::OpenClaw),
            of(false),
            &tokens(),
            Shell::Sh,
        )
        .unwrap();
        let value: serde_json::Value = serde_json::from_str(&openclaw).unwrap();
        assert_eq!(
            value["models"]["providers"]["redline-kimi-main"]["apiKey"],
            "rl_openclaw0123456789"
        );
        let sdk = one(
            parse_for("openai-sdk").unwrap(),
            of(false),
            &tokens(),
            Shell::Sh,
        )
        .unwrap();
        assert!(
            sdk.contains("export OPENAI_API_KEY='rl_default0123456789'"),
            "{sdk}"
        );
        let err = one(parse_for("codex").unwrap(), of(false), &tokens(), Shell::Sh).unwrap_err();
        assert!(err.starts_with("Codex speaks OpenAI responses"), "{err}");
        assert!(parse_for("vim").unwrap_err().contains("unknown tool"));
    }
}
