//! `redline env ACCOUNT [--tool TOOL]`: what each tool needs to go through Redline for one
//! account, with that tool's own token. With `--tool`, exactly what that tool needs (its
//! config file's content, or an SDK's variables); without, one labelled block per tool,
//! commented out, since no set of variables suits every tool in a shell.

use super::connect::config_path;
use clap::Args;
use redline::Error;
use redline::config::paths::Paths;
use redline::keys::Keys;
use redline::keys::account_id::AccountId;
use redline::keys::secret::Secret;
use redline::keys::token::{TokenStore, ToolName};
use redline::keys::vault::off_runtime;
use redline::providers::ProviderId;
use redline::serve::runtime_file;
use redline::tools::connect::{self, Tool};
use redline::tools::key_scan;
use redline::tools::tool_env::{self, Sdk, Shell};
use std::net::SocketAddr;
use std::process::ExitCode;

/// What `--tool` names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum EnvFor {
    Tool(Tool),
    Sdk(Sdk),
}

const OPENAI_SDK: &str = "openai-sdk";
const ANTHROPIC_SDK: &str = "anthropic-sdk";

fn parse_for(name: &str) -> Result<EnvFor, String> {
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

#[derive(Args, Debug)]
pub(super) struct EnvArgs {
    id: AccountId,
    /// Only this tool: claude-code, codex, openclaw, kimi, opencode or aider (its config
    /// file's content), or openai-sdk / anthropic-sdk (variables for the SDKs).
    #[arg(long, value_name = "TOOL", value_parser = parse_for)]
    tool: Option<EnvFor>,
    /// Syntax of the SDK variables.
    #[arg(long, value_enum, default_value = "sh")]
    shell: Shell,
}

async fn token_for(paths: &Paths, name: Option<&str>) -> Result<Secret, Error> {
    let store = TokenStore::from_paths(paths);
    let name: Option<ToolName> = match name {
        Some(name) => Some(
            name.parse()
                .map_err(|e| Error::Environment(format!("{e}")))?,
        ),
        None => None,
    };
    off_runtime(move || match name {
        Some(name) => store.tool_token(&name),
        None => store.default_tool_token(),
    })
    .await
}

/// A tool's config file content for the account (what `connect` would write into an empty
/// file), or why the tool cannot use it.
fn snippet(
    tool: Tool,
    id: &AccountId,
    provider: ProviderId,
    listen: SocketAddr,
    token: Secret,
) -> Result<String, String> {
    let target =
        tool_env::target(tool, id.as_str(), provider, listen, token).map_err(|e| e.to_string())?;
    let edit = connect::plan(tool, None, &target).map_err(|e| e.to_string())?;
    Ok(String::from_utf8_lossy(&edit.bytes).into_owned())
}

pub(super) async fn run(paths: &Paths, keys: &Keys, args: EnvArgs) -> Result<ExitCode, Error> {
    let config = keys.config().load()?;
    let provider = config.account(&args.id)?.provider;
    let listen = runtime_file::engine_address(paths, config.proxy.listen).await;
    let id = &args.id;
    let home = key_scan::home_dir().unwrap_or_default();
    match args.tool {
        Some(EnvFor::Sdk(sdk)) => {
            let token = token_for(paths, None).await?;
            let lines = tool_env::sdk_lines(
                sdk,
                id.as_str(),
                provider,
                listen,
                token.expose(),
                args.shell,
            )
            .ok_or_else(|| {
                Error::Environment(format!(
                    "{} offers no {} route",
                    provider.display_name(),
                    if sdk == Sdk::OpenAi {
                        "OpenAI-compatible"
                    } else {
                        "Anthropic-compatible"
                    }
                ))
            })?;
            print!("{lines}");
        }
        Some(EnvFor::Tool(tool)) => {
            let token = token_for(paths, Some(tool.name())).await?;
            let text = snippet(tool, id, provider, listen, token).map_err(Error::Environment)?;
            // Only the file's content on stdout: a comment would break strict JSON.
            eprintln!(
                "# {} for {id}: the settings for {} (`redline connect {} {id}` writes them into the file for you, keeping the rest).",
                tool.display_name(),
                config_path(tool, &home).display(),
                tool.name()
            );
            print!("{text}");
        }
        None => {
            let mut blocks = Vec::new();
            let mut suited = Vec::new();
            for tool in Tool::ALL {
                blocks.push(String::new());
                blocks.push(format!(
                    "# ==== {} ({}): {} ====",
                    tool.display_name(),
                    tool.name(),
                    config_path(tool, &home).display()
                ));
                let token = token_for(paths, Some(tool.name())).await?;
                match snippet(tool, id, provider, listen, token) {
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
            let mut out = vec![
                format!(
                    "# Redline for {id} ({}) on {listen}: what each tool needs, with its own tool token.",
                    provider.display_name()
                ),
                format!(
                    "# `redline connect TOOL {id}` sets up {} for you (`redline disconnect TOOL` undoes it).",
                    suited.join(", ")
                ),
                format!("# `redline env {id} --tool TOOL` prints one block ready to use."),
            ];
            out.extend(blocks);
            let token = token_for(paths, None).await?;
            for (sdk, name, label) in [
                (Sdk::OpenAi, OPENAI_SDK, "OpenAI SDKs"),
                (Sdk::Anthropic, ANTHROPIC_SDK, "Anthropic SDKs"),
            ] {
                if let Some(lines) = tool_env::sdk_lines(
                    sdk,
                    id.as_str(),
                    provider,
                    listen,
                    token.expose(),
                    args.shell,
                ) {
                    out.push(String::new());
                    out.push(format!(
                        "# ==== {label} ({name}): eval \"$(redline env {id} --tool {name})\" ===="
                    ));
                    out.extend(lines.lines().map(|l| {
                        if l.starts_with('#') {
                            l.to_owned()
                        } else {
                            format!("#   {l}")
                        }
                    }));
                }
            }
            println!("{}", out.join("\n"));
        }
    }
    Ok(ExitCode::SUCCESS)
}
