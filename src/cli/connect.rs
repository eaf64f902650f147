//! `redline connect`, `redline disconnect` and `redline tools`: pointing a tool's own config
//! file at Redline, taking it back out, and showing where each tool points. The edits are
//! `tools::connect`'s; this module reads and writes the files, keeps the backups and proves
//! the result with one real request through the running Redline.

use clap::Args;
use redline::Error;
use redline::config::Config;
use redline::config::paths::Paths;
use redline::keys::account_id::AccountId;
use redline::keys::secret::Secret;
use redline::keys::token::{TokenStore, ToolName};
use redline::keys::vault::off_runtime;
use redline::keys::{KeyInfo, Keys};
use redline::serve::runtime_file;
use redline::status::source;
use redline::tools::connect::write::{Backup, BackupStore, remove, write_atomic};
use redline::tools::connect::{self, ApiStyle, Target, Tool, ToolState};
use redline::tools::key_scan;
use redline::tools::tool_env;
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

fn parse_tool(name: &str) -> Result<Tool, String> {
    Tool::from_name(name).ok_or_else(|| {
        format!(
            "unknown tool {name:?}; Redline can connect {}",
            tool_names()
        )
    })
}

fn tool_names() -> String {
    Tool::ALL.map(Tool::name).join(", ")
}

#[derive(Args, Debug)]
pub(super) struct ConnectArgs {
    /// claude-code, codex, openclaw, kimi, opencode or aider.
    #[arg(value_parser = parse_tool)]
    tool: Tool,
    /// The account the tool's requests go to, such as kimi-main.
    account: AccountId,
    /// Show the change and write nothing.
    #[arg(long)]
    dry_run: bool,
}

#[derive(Args, Debug)]
pub(super) struct DisconnectArgs {
    /// The tool to take back out: claude-code, codex, openclaw, kimi, opencode or aider.
    #[arg(value_parser = parse_tool)]
    tool: Tool,
}

#[derive(Args, Debug)]
pub(super) struct ToolsArgs {
    /// One JSON object per tool, for scripts.
    #[arg(long)]
    json: bool,
}

fn home() -> Result<PathBuf, Error> {
    key_scan::home_dir()
        .ok_or_else(|| Error::Environment("cannot find your home directory: set HOME".into()))
}

fn env_dir(name: &str) -> Option<PathBuf> {
    std::env::var_os(name)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

/// The tool's config file where the tool itself looks for it: each honours a variable that
/// moves it (`CLAUDE_CONFIG_DIR`, `CODEX_HOME`, `OPENCLAW_CONFIG_PATH`, `OPENCLAW_STATE_DIR`
/// or `OPENCLAW_HOME`, `KIMI_SHARE_DIR`, opencode's `XDG_CONFIG_HOME`).
pub(super) fn config_path(tool: Tool, home: &Path) -> PathBuf {
    let var = |name| env_dir(name).map(|dir| expand_home(&dir, home));
    let moved = match tool {
        Tool::ClaudeCode => var("CLAUDE_CONFIG_DIR").map(|dir| dir.join("settings.json")),
        Tool::Codex => var("CODEX_HOME").map(|dir| dir.join("config.toml")),
        Tool::OpenClaw => var("OPENCLAW_CONFIG_PATH")
            .or_else(|| var("OPENCLAW_STATE_DIR").map(|dir| dir.join("openclaw.json")))
            .or_else(|| var("OPENCLAW_HOME").map(|dir| tool.config_path(&dir))),
        Tool::Opencode => {
            var("XDG_CONFIG_HOME").map(|dir| dir.join("opencode").join("opencode.json"))
        }
        Tool::Kimi => var("KIMI_SHARE_DIR").map(|dir| dir.join("config.toml")),
        Tool::Aider => None,
    };
    moved.unwrap_or_else(|| tool.config_path(home))
}

/// `~/x` as the tools read it: under `home`.
fn expand_home(path: &Path, home: &Path) -> PathBuf {
    match path.strip_prefix("~") {
        Ok(rest) => home.join(rest),
        Err(_) => path.to_owned(),
    }
}

/// The notes on Codex profiles that choose a provider of their own (`tools::connect::codex`),
/// from the profile files beside `config` (`NAME.config.toml`) and config.toml itself.
fn codex_profile_notes(config: &Path, text: &[u8], account: &str) -> Vec<String> {
    let mut files = Vec::new();
    if let Some(dir) = config.parent()
        && let Ok(entries) = std::fs::read_dir(dir)
    {
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if let Some(profile) = name.strip_suffix(".config.toml")
                && let Ok(bytes) = std::fs::read(entry.path())
            {
                files.push((
                    profile.to_owned(),
                    String::from_utf8_lossy(&bytes).into_owned(),
                ));
            }
        }
    }
    files.sort();
    connect::codex_profile_notes(&String::from_utf8_lossy(text), &files, account)
}

/// The file's bytes, None when it does not exist.
fn read(path: &Path) -> Result<Option<Vec<u8>>, Error> {
    match std::fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::Environment(format!(
            "cannot read {}: {e}",
            path.display()
        ))),
    }
}

fn edit_error(e: connect::EditError) -> Error {
    Error::Environment(e.to_string())
}

fn io_error(what: &str, path: &Path) -> impl FnOnce(std::io::Error) -> Error {
    let message = format!("cannot {what} {}", path.display());
    move |e| Error::Environment(format!("{message}: {e}"))
}

/// The tool's own token (made on first use), named by the tool so its traffic is too.
async fn tool_token(paths: &Paths, tool: Tool) -> Result<Secret, Error> {
    let store = TokenStore::from_paths(paths);
    let name: ToolName = tool
        .name()
        .parse()
        .map_err(|e| Error::Environment(format!("{e}")))?;
    off_runtime(move || store.tool_token(&name)).await
}

pub(super) async fn connect(
    paths: &Paths,
    keys: &Keys,
    args: ConnectArgs,
) -> Result<ExitCode, Error> {
    let ConnectArgs {
        tool,
        account,
        dry_run,
    } = args;
    let config = keys.config().load()?;
    let provider = config.account(&account)?.provider;
    let address = runtime_file::engine_address(paths, config.proxy.listen).await;
    let path = config_path(tool, &home()?);
    let current = read(&path)?;
    let token = tool_token(paths, tool).await?;
    let target =
        tool_env::target(tool, account.as_str(), provider, address, token).map_err(edit_error)?;
    let edit = connect::plan(tool, current.as_deref(), &target).map_err(edit_error)?;
    println!("{}", edit.preview);
    if tool == Tool::Codex {
        for note in codex_profile_notes(&path, &edit.bytes, account.as_str()) {
            println!("Note: {note}");
        }
    }
    if dry_run {
        println!(
            "Dry run: {} was not changed. Run the same command without --dry-run to write it.",
            path.display()
        );
        return Ok(ExitCode::SUCCESS);
    }
    let backups = BackupStore::new(paths.data_dir());
    // A reconnect keeps the user's own file as the original, not an earlier Redline edit.
    let earlier = backups
        .load(tool)
        .map_err(io_error("read the backup of", &path))?;
    let original = match earlier {
        Some(backup) if backup.path == path => backup.original,
        _ => current.clone(),
    };
    // The backup first: a crash between the two leaves a file `disconnect` can restore.
    backups
        .save(
            tool,
            &Backup {
                path: path.clone(),
                original,
                written: edit.bytes.clone(),
            },
        )
        .map_err(io_error("keep a backup of", &path))?;
    write_atomic(&path, &edit.bytes).map_err(io_error("write", &path))?;
    let written = read(&path)?;
    let state = connect::inspect(tool, written.as_deref()).map_err(edit_error)?;
    let expected_address = address.to_string();
    match &state {
        ToolState::Redline {
            address,
            account: a,
            ..
        } if *address == expected_address && a == account.as_str() => {}
        other => {
            return Err(Error::Environment(format!(
                "wrote {} but it does not read back as pointing at Redline for {account} ({}); run `redline disconnect {tool}` to restore it",
                path.display(),
                describe_state(other)
            )));
        }
    }
    println!(
        "Wrote {} (your previous file is kept by Redline; `redline disconnect {tool}` restores it).",
        path.display()
    );
    let proof = prove(tool, &target, address).await;
    match proof {
        Proof::Answered(took) => {
            println!(
                "{} now goes through Redline for {account} (answered in {:.1} s).",
                tool.display_name(),
                took.as_secs_f64()
            );
            Ok(ExitCode::SUCCESS)
        }
        Proof::NotRunning => {
            println!(
                "{} is set up for Redline on {address}, but no Redline is running there: start `redline daemon` (or the desktop app), then use {}.",
                tool.display_name(),
                tool.display_name()
            );
            Ok(ExitCode::SUCCESS)
        }
        Proof::Failed(reason) => {
            eprintln!(
                "redline: {} is set up for Redline, but a test request for {account} failed: {reason}",
                tool.display_name()
            );
            Ok(ExitCode::FAILURE)
        }
    }
}

enum Proof {
    Answered(Duration),
    NotRunning,
    Failed(String),
}

/// The request the tool will send, made once: same route, API style and headers, the tool's
/// model, a one-token answer.
fn proof_request(tool: Tool, target: &Target) -> (String, Vec<(&'static str, String)>, Value) {
    let token = target.token.expose().to_owned();
    let base = target.base_url.trim_end_matches('/');
    let mut headers = vec![("x-redline-tool", tool.name().to_owned())];
    let prompt = "Reply with OK.";
    match target.style {
        ApiStyle::OpenAiChat => {
            headers.push(("authorization", format!("Bearer {token}")));
            let body = json!({
                "model": target.model,
                "messages": [{"role": "user", "content": prompt}],
                "max_tokens": 1,
            });
            (format!("{base}/chat/completions"), headers, body)
        }
        ApiStyle::OpenAiResponses => {
            headers.push(("authorization", format!("Bearer {token}")));
            // The Responses API asks for 16 output tokens at the least.
            let body = json!({"model": target.model, "input": prompt, "max_output_tokens": 16});
            (format!("{base}/responses"), headers, body)
        }
        ApiStyle::AnthropicMessages => {
            // Claude Code sends ANTHROPIC_AUTH_TOKEN as a bearer token; the others an API key.
            if tool == Tool::ClaudeCode {
                headers.push(("authorization", format!("Bearer {token}")));
            } else {
                headers.push(("x-api-key", token));
            }
            headers.push(("anthropic-version", "2023-06-01".to_owned()));
            let body = json!({
                "model": target.model,
                "max_tokens": 1,
                "messages": [{"role": "user", "content": prompt}],
            });
            (format!("{base}/v1/messages"), headers, body)
        }
    }
}

async fn prove(tool: Tool, target: &Target, address: SocketAddr) -> Proof {
    if !source::is_listening(address).await {
        return Proof::NotRunning;
    }
    let (url, headers, body) = proof_request(tool, target);
    let client = match reqwest::Client::builder()
        .no_proxy()
        .connect_timeout(Duration::from_secs(2))
        .timeout(Duration::from_secs(60))
        .build()
    {
        Ok(client) => client,
        Err(e) => return Proof::Failed(e.to_string()),
    };
    let mut request = client.post(&url).json(&body);
    for (name, value) in headers {
        request = request.header(name, value);
    }
    let started = Instant::now();
    let answer = match request.send().await {
        Ok(answer) => answer,
        Err(e) if e.is_connect() => return Proof::NotRunning,
        Err(e) => return Proof::Failed(format!("no answer from Redline on {address}: {e}")),
    };
    let status = answer.status();
    let text = answer.text().await.unwrap_or_default();
    let took = started.elapsed();
    if status.is_success() {
        return Proof::Answered(took);
    }
    Proof::Failed(format!("HTTP {}: {}", status.as_u16(), reason_in(&text)))
}

/// The message in an error answer (OpenAI's and Anthropic's shapes, Redline's own), else
/// the start of the body.
fn reason_in(body: &str) -> String {
    let parsed: Option<Value> = serde_json::from_str(body).ok();
    let message = parsed.as_ref().and_then(|v| {
        v["error"]["message"]
            .as_str()
            .or_else(|| v["message"].as_str())
            .or_else(|| v["error"].as_str())
            .map(str::to_owned)
    });
    message.unwrap_or_else(|| body.trim().chars().take(300).collect())
}

pub(super) async fn disconnect(paths: &Paths, args: DisconnectArgs) -> Result<ExitCode, Error> {
    let tool = args.tool;
    let backups = BackupStore::new(paths.data_dir());
    let default_path = config_path(tool, &home()?);
    let Some(backup) = backups
        .load(tool)
        .map_err(io_error("read the backup of", &default_path))?
    else {
        println!(
            "Redline has not connected {} (it keeps no backup of {}); nothing to do.",
            tool.display_name(),
            default_path.display()
        );
        return Ok(ExitCode::SUCCESS);
    };
    let path = backup.path.clone();
    let current = read(&path)?;
    let restored = connect::undo(
        tool,
        backup.original.as_deref(),
        &backup.written,
        current.as_deref(),
    )
    .map_err(edit_error)?;
    let what = match (&restored, &backup.original) {
        (None, _) => {
            remove(&path).map_err(io_error("remove", &path))?;
            format!("removed {} (Redline had created it)", path.display())
        }
        (Some(bytes), Some(original)) if bytes == original => {
            write_atomic(&path, bytes).map_err(io_error("write", &path))?;
            format!("restored {} as it was", path.display())
        }
        (Some(bytes), _) => {
            write_atomic(&path, bytes).map_err(io_error("write", &path))?;
            format!(
                "removed Redline's settings from {} and kept your changes since",
                path.display()
            )
        }
    };
    backups
        .remove(tool)
        .map_err(io_error("forget the backup of", &path))?;
    println!(
        "{} no longer goes through Redline: {what}.",
        tool.display_name()
    );
    Ok(ExitCode::SUCCESS)
}

/// One tool's line in `redline tools`.
struct ToolReport {
    tool: Tool,
    path: PathBuf,
    exists: bool,
    on_path: bool,
    state: Result<ToolState, String>,
}

/// The executable the tool installs.
fn binary(tool: Tool) -> &'static str {
    match tool {
        Tool::ClaudeCode => "claude",
        Tool::Codex => "codex",
        Tool::OpenClaw => "openclaw",
        Tool::Kimi => "kimi",
        Tool::Opencode => "opencode",
        Tool::Aider => "aider",
    }
}

fn on_path(name: &str) -> bool {
    let Some(path) = std::env::var_os("PATH") else {
        return false;
    };
    std::env::split_paths(&path).any(|dir| {
        let file = dir.join(name);
        file.is_file() || (cfg!(windows) && dir.join(format!("{name}.exe")).is_file())
    })
}

/// The state in words and as JSON fields, judged against the accounts' keys, the tool
/// tokens and the running Redline's address.
struct Judged {
    code: &'static str,
    words: String,
    fields: Value,
}

fn judge(
    state: &ToolState,
    accounts: &[KeyInfo],
    tokens: &[(String, Secret)],
    running: SocketAddr,
) -> Judged {
    match state {
        ToolState::NotConfigured => Judged {
            code: "not_configured",
            words: "not configured".into(),
            fields: json!({}),
        },
        ToolState::Direct { base_url, key } => {
            let fingerprint = key.as_ref().map(Secret::fingerprint);
            let current = accounts
                .iter()
                .find(|a| fingerprint.is_some() && a.fingerprint == fingerprint);
            let previous = accounts
                .iter()
                .find(|a| fingerprint.is_some() && a.previous_fingerprint == fingerprint);
            let (code, words, account) = match (current, previous) {
                (Some(a), _) => (
                    "direct_current_key",
                    format!("direct to the provider with the current key of {}", a.id),
                    Some(a.id.clone()),
                ),
                (None, Some(a)) => (
                    "direct_old_key",
                    format!(
                        "direct to the provider with an old key of {} (replaced by a rotation; update it, or `redline connect`)",
                        a.id
                    ),
                    Some(a.id.clone()),
                ),
                (None, None) => ("direct", "direct to the provider".to_owned(), None),
            };
            Judged {
                code,
                words,
                fields: json!({"account": account, "base_url": base_url, "key": fingerprint}),
            }
        }
        ToolState::Redline {
            address,
            account,
            token,
        } => {
            let token_tool = token.as_ref().and_then(|t| {
                tokens
                    .iter()
                    .find(|(_, s)| s.matches(t.expose().as_bytes()))
                    .map(|(n, _)| n.clone())
            });
            let here = address.parse::<SocketAddr>().ok() == Some(running)
                || *address == running.to_string();
            let token_words = match (&token_tool, token) {
                (Some(name), _) => format!(" with tool token {name}"),
                (None, Some(_)) => " with a token this Redline does not know".to_owned(),
                (None, None) => " without a token".to_owned(),
            };
            let (code, words) = if here {
                (
                    "redline",
                    format!("through Redline on account {account}{token_words}"),
                )
            } else {
                (
                    "redline_elsewhere",
                    format!(
                        "points at a Redline on {address} (account {account}), but Redline runs on {running}: run `redline connect` again"
                    ),
                )
            };
            Judged {
                code,
                words,
                fields: json!({"account": account, "address": address, "token_tool": token_tool}),
            }
        }
    }
}

pub(super) async fn tools(paths: &Paths, keys: &Keys, args: ToolsArgs) -> Result<ExitCode, Error> {
    let config: Config = keys.config().load()?;
    let accounts = keys.list()?;
    let running = runtime_file::engine_address(paths, config.proxy.listen).await;
    let home = home()?;
    let store = TokenStore::from_paths(paths);
    let tokens: Vec<(String, Secret)> = off_runtime(move || store.tool_tokens())
        .await?
        .into_iter()
        .map(|(name, secret)| (name.as_str().to_owned(), secret))
        .collect();
    let reports: Vec<ToolReport> = Tool::ALL
        .into_iter()
        .map(|tool| {
            let path = config_path(tool, &home);
            let bytes = read(&path);
            let exists = matches!(bytes, Ok(Some(_)));
            let state = match bytes {
                Ok(bytes) => connect::inspect(tool, bytes.as_deref()).map_err(|e| e.to_string()),
                Err(e) => Err(e.to_string()),
            };
            ToolReport {
                tool,
                exists,
                on_path: on_path(binary(tool)),
                path,
                state,
            }
        })
        .collect();
    if args.json {
        let list: Vec<Value> = reports
            .iter()
            .map(|r| {
                let mut entry = json!({
                    "tool": r.tool.name(),
                    "name": r.tool.display_name(),
                    "detected": r.exists || r.on_path,
                    "config_path": r.path,
                    "config_exists": r.exists,
                    "on_path": r.on_path,
                });
                match &r.state {
                    Ok(state) => {
                        let judged = judge(state, &accounts, &tokens, running);
                        entry["state"] = json!(judged.code);
                        entry["summary"] = json!(judged.words);
                        if let (Some(obj), Value::Object(more)) =
                            (entry.as_object_mut(), judged.fields)
                        {
                            obj.extend(more);
                        }
                    }
                    Err(problem) => {
                        entry["state"] = json!("unreadable");
                        entry["summary"] = json!(problem);
                    }
                }
                entry
            })
            .collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({"redline": running.to_string(), "tools": list}))
                .expect("JSON")
        );
        return Ok(ExitCode::SUCCESS);
    }
    for r in &reports {
        let detected = match (r.exists, r.on_path) {
            (_, true) => "installed",
            (true, false) => "config found",
            (false, false) => "not found",
        };
        let state = match &r.state {
            Ok(state) => judge(state, &accounts, &tokens, running).words,
            Err(problem) => format!("cannot read: {problem}"),
        };
        println!(
            "{:<12} {:<13} {}\n             {state}",
            r.tool.name(),
            detected,
            r.path.display()
        );
    }
    println!(
        "\n`redline connect TOOL ACCOUNT` points a tool at Redline; `redline disconnect TOOL` undoes it."
    );
    Ok(ExitCode::SUCCESS)
}

fn describe_state(state: &ToolState) -> String {
    match state {
        ToolState::NotConfigured => "it chooses no endpoint".into(),
        ToolState::Direct { base_url, .. } => format!(
            "it points at {}",
            base_url.as_deref().unwrap_or("the provider")
        ),
        ToolState::Redline {
            address, account, ..
        } => format!("it points at Redline on {address} for {account}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use redline::providers::ProviderId;

    fn target(tool: Tool, provider: ProviderId) -> Target {
        let token = Secret::parse("rl_0123456789abcdef0123").unwrap();
        let address = "127.0.0.1:4290".parse().unwrap();
        tool_env::target(tool, "acct", provider, address, token).unwrap()
    }

    #[test]
    fn the_proof_goes_the_way_the_tool_goes() {
        let (url, headers, body) = proof_request(
            Tool::ClaudeCode,
            &target(Tool::ClaudeCode, ProviderId::KimiCode),
        );
        assert_eq!(url, "http://127.0.0.1:4290/acct/coding/v1/messages");
        assert!(headers.contains(&("authorization", "Bearer rl_0123456789abcdef0123".into())));
        assert!(headers.contains(&("x-redline-tool", "claude-code".into())));
        assert_eq!(body["max_tokens"], 1);
        assert_eq!(body["model"], "kimi-for-coding");

        let (url, headers, _) = proof_request(
            Tool::OpenClaw,
            &target(Tool::OpenClaw, ProviderId::KimiCode),
        );
        assert_eq!(url, "http://127.0.0.1:4290/acct/coding/v1/messages");
        assert!(headers.contains(&("x-api-key", "rl_0123456789abcdef0123".into())));

        let (url, _, body) = proof_request(Tool::Aider, &target(Tool::Aider, ProviderId::KimiCode));
        assert_eq!(url, "http://127.0.0.1:4290/acct/coding/v1/chat/completions");
        assert_eq!(body["max_tokens"], 1);

        let (url, _, body) = proof_request(Tool::Codex, &target(Tool::Codex, ProviderId::Openai));
        assert_eq!(url, "http://127.0.0.1:4290/acct/v1/responses");
        assert_eq!(body["model"], "gpt-5");
    }

    #[test]
    fn a_refusal_is_told_in_the_providers_words() {
        assert_eq!(
            reason_in(r#"{"error": {"type": "rate_limit", "message": "Too many requests"}}"#),
            "Too many requests"
        );
        assert_eq!(reason_in(r#"{"message": "no"}"#), "no");
        assert_eq!(reason_in(" Bad gateway \n"), "Bad gateway");
    }
}
