//! The connect service: what `redline connect`, `disconnect` and `tools` do, shared by the CLI
//! and the engine's API (and so the dashboard), so both edit files the same way.
//!
//! [`ConnectService::prepare`] plans the edit (the preview, the token masked);
//! [`ConnectService::write`] keeps the backup, writes the file atomically and reads it back;
//! [`prove`] sends one real request through the running Redline the way the tool will;
//! [`ConnectService::disconnect`] takes Redline back out; [`ConnectService::report`] says
//! where each tool points, judged by [`judge`] against the accounts' keys, the tool tokens and
//! the running address. The decisions are [`super`]'s pure functions; this module reads and
//! writes the files.

use super::write::{Backup, BackupStore, remove, write_atomic};
use super::{ApiStyle, Edit, EditError, Target, Tool, ToolState};
use crate::error::Error;
use crate::keys::KeyInfo;
use crate::keys::secret::Secret;
use crate::keys::token::{TokenStore, ToolName};
use crate::keys::vault::off_runtime;
use crate::providers::ProviderId;
use crate::tools::{key_scan, tool_env};
use serde::Serialize;
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Why a connect or disconnect did not happen. Messages say what happened and what to do, and
/// never quote a config file.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error(transparent)]
    Edit(#[from] EditError),
    /// Reading or writing a file, or the backup, failed.
    #[error("{0}")]
    Io(String),
    /// The file was written but does not say what Redline wrote.
    #[error("{0}")]
    ReadBack(String),
    #[error("cannot find your home directory: set HOME")]
    NoHome,
}

impl ServiceError {
    /// A stable code for the API's error JSON.
    pub fn code(&self) -> &'static str {
        match self {
            ServiceError::Edit(EditError::Parse { .. })
            | ServiceError::Edit(EditError::Shape { .. })
            | ServiceError::Edit(EditError::Encoding { .. }) => "unreadable_config",
            ServiceError::Edit(EditError::Style { .. })
            | ServiceError::Edit(EditError::NoCommonStyle { .. }) => "tool_cannot_use_account",
            ServiceError::Edit(EditError::Internal { .. }) | ServiceError::ReadBack(_) => {
                "connect_failed"
            }
            ServiceError::Io(_) | ServiceError::NoHome => "environment",
        }
    }

    /// The HTTP status the API answers with.
    pub fn status(&self) -> u16 {
        match self.code() {
            "unreadable_config" | "tool_cannot_use_account" => 422,
            _ => 500,
        }
    }
}

impl From<ServiceError> for Error {
    fn from(err: ServiceError) -> Error {
        Error::Environment(err.to_string())
    }
}

fn io_error(what: &str, path: &Path) -> impl FnOnce(std::io::Error) -> ServiceError {
    let message = format!("cannot {what} {}", path.display());
    move |e| ServiceError::Io(format!("{message}: {e}"))
}

fn env_dir(name: &str) -> Option<PathBuf> {
    std::env::var_os(name)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

/// The file's bytes, None when it does not exist.
fn read(path: &Path) -> Result<Option<Vec<u8>>, ServiceError> {
    match std::fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(ServiceError::Io(format!(
            "cannot read {}: {e}",
            path.display()
        ))),
    }
}

/// A connect planned but not written: the preview to show, and what [`ConnectService::write`]
/// needs.
pub struct Prepared {
    pub tool: Tool,
    pub account: String,
    /// The tool's config file.
    pub path: PathBuf,
    /// The running Redline the tool is pointed at.
    pub address: SocketAddr,
    pub target: Target,
    pub edit: Edit,
    current: Option<Vec<u8>>,
}

/// What `disconnect` did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Disconnected {
    /// Redline keeps no backup for the tool: it did not connect it (or it was disconnected).
    NotConnected { path: PathBuf },
    /// The file did not exist before Redline connected the tool, and holds nothing else now.
    Removed { path: PathBuf },
    /// The file is back byte for byte.
    Restored { path: PathBuf },
    /// The user edited the file since: Redline's settings went, their edits stayed.
    KeptEdits { path: PathBuf },
}

impl Disconnected {
    pub fn code(&self) -> &'static str {
        match self {
            Disconnected::NotConnected { .. } => "not_connected",
            Disconnected::Removed { .. } => "removed",
            Disconnected::Restored { .. } => "restored",
            Disconnected::KeptEdits { .. } => "kept_edits",
        }
    }

    pub fn path(&self) -> &Path {
        match self {
            Disconnected::NotConnected { path }
            | Disconnected::Removed { path }
            | Disconnected::Restored { path }
            | Disconnected::KeptEdits { path } => path,
        }
    }

    /// One sentence for people.
    pub fn sentence(&self, tool: Tool) -> String {
        let path = self.path().display();
        let what = match self {
            Disconnected::NotConnected { .. } => {
                return format!(
                    "Redline has not connected {} (it keeps no backup of {path}); nothing to do.",
                    tool.display_name()
                );
            }
            Disconnected::Removed { .. } => format!("removed {path} (Redline had created it)"),
            Disconnected::Restored { .. } => format!("restored {path} as it was"),
            Disconnected::KeptEdits { .. } => {
                format!("removed Redline's settings from {path} and kept your changes since")
            }
        };
        format!(
            "{} no longer goes through Redline: {what}.",
            tool.display_name()
        )
    }
}

/// Where the tool files are (the user's home) and where Redline keeps its backups.
#[derive(Clone, Debug)]
pub struct ConnectService {
    home: PathBuf,
    data_dir: PathBuf,
}

impl ConnectService {
    /// The service for this user (`$HOME`) and Redline's data directory.
    pub fn new(data_dir: &Path) -> Result<ConnectService, ServiceError> {
        let home = key_scan::home_dir().ok_or(ServiceError::NoHome)?;
        Ok(ConnectService::with_home(&home, data_dir))
    }

    pub fn with_home(home: &Path, data_dir: &Path) -> ConnectService {
        ConnectService {
            home: home.to_path_buf(),
            data_dir: data_dir.to_path_buf(),
        }
    }

    pub fn home(&self) -> &Path {
        &self.home
    }

    fn backups(&self) -> BackupStore {
        BackupStore::new(&self.data_dir)
    }

    /// The tool's config file, where the tool's own variables say it is ([`config_path`]).
    pub fn config_path(&self, tool: Tool) -> PathBuf {
        config_path(tool, &self.home)
    }

    /// Whether Redline connected the tool (it keeps a backup for `disconnect`).
    pub fn is_connected(&self, tool: Tool) -> bool {
        matches!(self.backups().load(tool), Ok(Some(_)))
    }

    /// The account Redline connected the tool to (what it wrote), None when it keeps no
    /// backup for the tool.
    pub fn connected_to(&self, tool: Tool) -> Option<String> {
        let backup = self.backups().load(tool).ok()??;
        match super::inspect(tool, Some(&backup.written)) {
            Ok(ToolState::Redline { account, .. }) => Some(account),
            // Redline wrote it, so this does not happen; the fix still names the form.
            _ => Some("ACCOUNT".to_owned()),
        }
    }

    /// Plans pointing `tool` at Redline on `address` for `account` (a `provider` account),
    /// presenting `token` (the tool's own tool token). Reads the file; writes nothing.
    pub fn prepare(
        &self,
        tool: Tool,
        account: &str,
        provider: ProviderId,
        address: SocketAddr,
        token: Secret,
    ) -> Result<Prepared, ServiceError> {
        let path = self.config_path(tool);
        let current = read(&path)?;
        let target = tool_env::target(tool, account, provider, address, token)?;
        let edit = super::plan(tool, current.as_deref(), &target)?;
        Ok(Prepared {
            tool,
            account: account.to_owned(),
            path,
            address,
            target,
            edit,
            current,
        })
    }

    /// Keeps the backup (the first original across reconnects), writes the file atomically and
    /// checks that it reads back as pointing at Redline for the account.
    pub fn write(&self, prepared: &Prepared) -> Result<(), ServiceError> {
        let Prepared {
            tool,
            account,
            path,
            address,
            edit,
            current,
            ..
        } = prepared;
        let backups = self.backups();
        // A reconnect keeps the user's own file as the original, not an earlier Redline edit.
        let earlier = backups
            .load(*tool)
            .map_err(io_error("read the backup of", path))?;
        let original = match earlier {
            Some(backup) if backup.path == *path => backup.original,
            _ => current.clone(),
        };
        // The backup first: a crash between the two leaves a file `disconnect` can restore.
        backups
            .save(
                *tool,
                &Backup {
                    path: path.clone(),
                    original,
                    written: edit.bytes.clone(),
                },
            )
            .map_err(io_error("keep a backup of", path))?;
        write_atomic(path, &edit.bytes).map_err(io_error("write", path))?;
        let written = read(path)?;
        let state = super::inspect(*tool, written.as_deref())?;
        match &state {
            ToolState::Redline {
                address: a,
                account: acct,
                ..
            } if *a == address.to_string() && acct == account => Ok(()),
            other => Err(ServiceError::ReadBack(format!(
                "wrote {} but it does not read back as pointing at Redline for {account} ({}); run `redline disconnect {tool}` to restore it",
                path.display(),
                describe_state(other)
            ))),
        }
    }

    /// Takes Redline back out of the tool's file (see [`super::undo`]) and forgets the backup.
    pub fn disconnect(&self, tool: Tool) -> Result<Disconnected, ServiceError> {
        let backups = self.backups();
        let default_path = self.config_path(tool);
        let Some(backup) = backups
            .load(tool)
            .map_err(io_error("read the backup of", &default_path))?
        else {
            return Ok(Disconnected::NotConnected { path: default_path });
        };
        let path = backup.path.clone();
        let current = read(&path)?;
        let restored = super::undo(
            tool,
            backup.original.as_deref(),
            &backup.written,
            current.as_deref(),
        )?;
        let done = match (&restored, &backup.original) {
            (None, _) => {
                remove(&path).map_err(io_error("remove", &path))?;
                Disconnected::Removed { path: path.clone() }
            }
            (Some(bytes), Some(original)) if bytes == original => {
                write_atomic(&path, bytes).map_err(io_error("write", &path))?;
                Disconnected::Restored { path: path.clone() }
            }
            (Some(bytes), _) => {
                write_atomic(&path, bytes).map_err(io_error("write", &path))?;
                Disconnected::KeptEdits { path: path.clone() }
            }
        };
        backups
            .remove(tool)
            .map_err(io_error("forget the backup of", &path))?;
        Ok(done)
    }

    /// Where `tool` points now, read from its file (None: the file cannot be read or parsed,
    /// with why).
    pub fn inspect(&self, tool: Tool) -> Observation {
        let path = self.config_path(tool);
        let bytes = read(&path);
        let exists = matches!(bytes, Ok(Some(_)));
        let state = match bytes {
            Ok(bytes) => super::inspect(tool, bytes.as_deref()).map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        Observation {
            tool,
            path,
            exists,
            connected_to: self.connected_to(tool),
            state,
        }
    }

    /// Every tool: its file, whether it is installed, and where it points, judged.
    pub fn report(&self, judge_with: &Judge<'_>) -> ToolsReport {
        let tools = Tool::ALL
            .into_iter()
            .map(|tool| {
                let observation = self.inspect(tool);
                let mut judged = match &observation.state {
                    Ok(state) => judge(state, judge_with),
                    Err(problem) => Judged::unreadable(problem),
                };
                let through = judged.code == StateCode::Redline && judged.token != TokenSeen::Unknown;
                let astray = observation.connected_to.as_ref().filter(|_| !through);
                if let Some(account) = astray {
                    judged.summary = format!(
                        "{}; Redline connected it to {account}: `redline connect {tool} {account}` points it back, `redline disconnect {tool}` restores your file",
                        judged.summary
                    );
                }
                ToolReport {
                    astray: astray.is_some(),
                    shown: shown_path(&observation.path, &self.home),
                    on_path: on_path(binary(tool)),
                    choices: judge_with
                        .accounts
                        .iter()
                        .map(|a| Choice::for_account(tool, a))
                        .collect(),
                    observation,
                    judged,
                }
            })
            .collect();
        ToolsReport {
            redline: judge_with.running,
            tools,
        }
    }
}

/// `~/.openclaw/openclaw.json` for a file under the home directory, else the whole path.
pub fn shown_path(path: &Path, home: &Path) -> String {
    match path.strip_prefix(home) {
        Ok(rest) => format!("~/{}", rest.display()),
        Err(_) => path.display().to_string(),
    }
}

/// The tool's config file where the tool itself looks for it: each honours a variable that
/// moves it (`CLAUDE_CONFIG_DIR`, `CODEX_HOME`, `OPENCLAW_CONFIG_PATH`, `OPENCLAW_STATE_DIR`
/// or `OPENCLAW_HOME`, `KIMI_SHARE_DIR`, opencode's `XDG_CONFIG_HOME`).
pub fn config_path(tool: Tool, home: &Path) -> PathBuf {
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
/// from the profile files beside `config` (`NAME.config.toml`) and config.toml's new text.
pub fn codex_profile_notes(config: &Path, text: &[u8], account: &str) -> Vec<String> {
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
    super::codex_profile_notes(&String::from_utf8_lossy(text), &files, account)
}

/// The tool's own token (made on first use), named by the tool so its traffic is too.
pub async fn tool_token(store: TokenStore, tool: Tool) -> Result<Secret, Error> {
    let name: ToolName = tool
        .name()
        .parse()
        .map_err(|e| Error::Environment(format!("{e}")))?;
    off_runtime(move || store.tool_token(&name)).await
}

/// A tool's file as read now.
#[derive(Clone, Debug)]
pub struct Observation {
    pub tool: Tool,
    pub path: PathBuf,
    pub exists: bool,
    /// The account Redline connected it to, when Redline did (and keeps its backup).
    pub connected_to: Option<String>,
    pub state: Result<ToolState, String>,
}

/// The result of the proof request.
#[derive(Clone, Debug, PartialEq)]
pub enum Proof {
    Answered(Duration),
    /// Nothing listens on the address the tool was pointed at.
    NotRunning,
    /// The request failed: Redline's or the provider's reason.
    Failed(String),
}

impl Proof {
    /// The sentence `connect` ends with.
    pub fn sentence(&self, tool: Tool, account: &str, address: SocketAddr) -> String {
        let name = tool.display_name();
        match self {
            Proof::Answered(took) => format!(
                "{name} now goes through Redline for {account} (answered in {:.1} s).",
                took.as_secs_f64()
            ),
            Proof::NotRunning => format!(
                "{name} is set up for Redline on {address}, but no Redline is running there: start `redline daemon` (or the desktop app), then use {name}."
            ),
            Proof::Failed(reason) => format!(
                "{name} is set up for Redline, but a test request for {account} failed: {reason}"
            ),
        }
    }

    /// As JSON: `{"ok": true, "seconds": 0.4}`, `{"ok": false, "running": false}`,
    /// `{"ok": false, "reason": "..."}`.
    pub fn to_json(&self) -> Value {
        match self {
            Proof::Answered(took) => json!({"ok": true, "seconds": took.as_secs_f64()}),
            Proof::NotRunning => json!({"ok": false, "running": false}),
            Proof::Failed(reason) => json!({"ok": false, "running": true, "reason": reason}),
        }
    }
}

/// The request the tool will send, made once: same route, API style and headers, the tool's
/// model, a one-token answer.
pub fn proof_request(tool: Tool, target: &Target) -> (String, Vec<(&'static str, String)>, Value) {
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

/// Sends [`proof_request`] through the Redline on `address`.
pub async fn prove(tool: Tool, target: &Target, address: SocketAddr) -> Proof {
    if !crate::status::source::is_listening(address).await {
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
/// the start of the body; keys in it are cut to their fingerprints.
pub fn reason_in(body: &str) -> String {
    let parsed: Option<Value> = serde_json::from_str(body).ok();
    let message = parsed.as_ref().and_then(|v| {
        v["error"]["message"]
            .as_str()
            .or_else(|| v["message"].as_str())
            .or_else(|| v["error"].as_str())
            .map(str::to_owned)
    });
    let text = message.unwrap_or_else(|| body.trim().chars().take(300).collect());
    crate::keys::secret::redact_keys(&text)
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

/// The executable the tool installs.
pub fn binary(tool: Tool) -> &'static str {
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

/// What a tool's state is judged against.
pub struct Judge<'a> {
    /// The accounts, with their keys' fingerprints (current and previous).
    pub accounts: &'a [KeyInfo],
    /// The tool tokens, by tool name.
    pub tokens: &'a [(String, Secret)],
    /// Where the running Redline listens (a loopback address).
    pub running: SocketAddr,
}

/// The states of `redline tools --json`, stable.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StateCode {
    NotConfigured,
    /// Straight to a provider with a key Redline does not store.
    Direct,
    DirectCurrentKey,
    /// A key a rotation replaced.
    DirectOldKey,
    Redline,
    /// A Redline address that is not the running one.
    RedlineElsewhere,
    /// The file cannot be read or parsed.
    Unreadable,
}

impl StateCode {
    pub fn as_str(self) -> &'static str {
        match self {
            StateCode::NotConfigured => "not_configured",
            StateCode::Direct => "direct",
            StateCode::DirectCurrentKey => "direct_current_key",
            StateCode::DirectOldKey => "direct_old_key",
            StateCode::Redline => "redline",
            StateCode::RedlineElsewhere => "redline_elsewhere",
            StateCode::Unreadable => "unreadable",
        }
    }
}

/// What the token in a tool's file is to the running Redline.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenSeen {
    /// One of its tool tokens.
    Known,
    /// A token it does not accept (rotated, revoked, another install's).
    Unknown,
    /// No token in the file (or not a Redline state).
    None,
}

/// A tool's state judged: the code, the words, and the fields `redline tools --json` shows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Judged {
    pub code: StateCode,
    /// The state in words, such as "through Redline on account kimi-main with tool token
    /// openclaw".
    pub summary: String,
    pub account: Option<String>,
    /// Direct: the endpoint in the file.
    pub base_url: Option<String>,
    /// Direct: the key's fingerprint.
    pub key: Option<String>,
    /// Redline: the address in the file.
    pub address: Option<String>,
    /// Redline: whose tool token the file holds.
    pub token_tool: Option<String>,
    pub token: TokenSeen,
}

impl Judged {
    fn unreadable(problem: &str) -> Judged {
        Judged {
            code: StateCode::Unreadable,
            summary: problem.to_owned(),
            account: None,
            base_url: None,
            key: None,
            address: None,
            token_tool: None,
            token: TokenSeen::None,
        }
    }

    /// A short label for a badge.
    pub fn label(&self) -> &'static str {
        match (self.code, self.token) {
            (StateCode::NotConfigured, _) => "Not configured",
            (StateCode::Direct, _) => "Direct",
            (StateCode::DirectCurrentKey, _) => "Direct, current key",
            (StateCode::DirectOldKey, _) => "Direct, old key",
            (StateCode::Redline, TokenSeen::Unknown) => "Token refused",
            (StateCode::Redline, _) => "Through Redline",
            (StateCode::RedlineElsewhere, _) => "Wrong Redline address",
            (StateCode::Unreadable, _) => "Cannot read",
        }
    }

    /// How it stands, as the status's levels: `ok` through Redline, `critical` when the
    /// tool's requests will be refused (an old key, a refused token, a Redline that is not
    /// running there), `warn` for a file Redline cannot read, `unknown` otherwise.
    pub fn level(&self) -> crate::status::health::Level {
        use crate::status::health::Level;
        match (self.code, self.token) {
            (StateCode::Redline, TokenSeen::Unknown) => Level::Critical,
            (StateCode::Redline, _) => Level::Ok,
            (StateCode::DirectOldKey | StateCode::RedlineElsewhere, _) => Level::Critical,
            (StateCode::Unreadable, _) => Level::Warn,
            _ => Level::Unknown,
        }
    }

    /// The fields `redline tools --json` has for this state.
    fn fields(&self) -> Value {
        match self.code {
            StateCode::NotConfigured | StateCode::Unreadable => json!({}),
            StateCode::Direct | StateCode::DirectCurrentKey | StateCode::DirectOldKey => {
                json!({"account": self.account, "base_url": self.base_url, "key": self.key})
            }
            StateCode::Redline | StateCode::RedlineElsewhere => json!({
                "account": self.account,
                "address": self.address,
                "token_tool": self.token_tool,
                "token": self.token,
            }),
        }
    }
}

/// Judges `state` against the accounts' key fingerprints (current or previous), the tool
/// tokens and the running Redline's address.
pub fn judge(state: &ToolState, with: &Judge<'_>) -> Judged {
    let mut judged = Judged::unreadable("");
    match state {
        ToolState::NotConfigured => {
            judged.code = StateCode::NotConfigured;
            judged.summary = "not configured".into();
        }
        ToolState::Direct { base_url, key } => {
            let fingerprint = key.as_ref().map(Secret::fingerprint);
            let current = with
                .accounts
                .iter()
                .find(|a| fingerprint.is_some() && a.fingerprint == fingerprint);
            let previous = with
                .accounts
                .iter()
                .find(|a| fingerprint.is_some() && a.previous_fingerprint == fingerprint);
            let (code, summary, account) = match (current, previous) {
                (Some(a), _) => (
                    StateCode::DirectCurrentKey,
                    format!("direct to the provider with the current key of {}", a.id),
                    Some(a.id.clone()),
                ),
                (None, Some(a)) => (
                    StateCode::DirectOldKey,
                    format!(
                        "direct to the provider with an old key of {} (replaced by a rotation; update it, or `redline connect`)",
                        a.id
                    ),
                    Some(a.id.clone()),
                ),
                (None, None) => (StateCode::Direct, "direct to the provider".to_owned(), None),
            };
            judged = Judged {
                code,
                summary,
                account,
                base_url: base_url.clone(),
                key: fingerprint,
                ..judged
            };
        }
        ToolState::Redline {
            address,
            account,
            token,
        } => {
            let token_tool = token.as_ref().and_then(|t| {
                with.tokens
                    .iter()
                    .find(|(_, s)| s.matches(t.expose().as_bytes()))
                    .map(|(n, _)| n.clone())
            });
            let running = with.running;
            let here = address.parse::<SocketAddr>().ok() == Some(running)
                || *address == running.to_string();
            let (seen, token_words) = match (&token_tool, token) {
                (Some(name), _) => (TokenSeen::Known, format!(" with tool token {name}")),
                (None, Some(_)) => (
                    TokenSeen::Unknown,
                    " with a token this Redline does not know (rotated or revoked: `redline connect` writes the current one)"
                        .to_owned(),
                ),
                (None, None) => (TokenSeen::None, " without a token".to_owned()),
            };
            let (code, summary) = if here {
                (
                    StateCode::Redline,
                    format!("through Redline on account {account}{token_words}"),
                )
            } else {
                (
                    StateCode::RedlineElsewhere,
                    format!(
                        "points at a Redline on {address} (account {account}), but Redline runs on {running}: run `redline connect` again"
                    ),
                )
            };
            judged = Judged {
                code,
                summary,
                account: Some(account.clone()),
                address: Some(address.clone()),
                token_tool,
                token: seen,
                ..judged
            };
        }
    }
    judged
}

/// Whether a tool can use an account, and why not.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Choice {
    pub account: String,
    pub provider: ProviderId,
    pub usable: bool,
    /// Why it cannot, when it cannot.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl Choice {
    fn for_account(tool: Tool, account: &KeyInfo) -> Choice {
        // The same choice `connect` makes, with a token that is never written anywhere.
        let placeholder = Secret::parse("rl_placeholder").expect("a valid secret");
        let address = SocketAddr::from(([127, 0, 0, 1], 4290));
        let reason = tool_env::target(tool, &account.id, account.provider, address, placeholder)
            .err()
            .map(|e| {
                e.to_string()
                    .trim_end_matches(". Nothing was written")
                    .to_owned()
            });
        Choice {
            account: account.id.clone(),
            provider: account.provider,
            usable: reason.is_none(),
            reason,
        }
    }
}

/// One tool in [`ToolsReport`].
#[derive(Clone, Debug)]
pub struct ToolReport {
    pub observation: Observation,
    /// Redline connected it, but it does not go through Redline now.
    pub astray: bool,
    /// The config file as people read it: `~/.openclaw/openclaw.json`.
    pub shown: String,
    pub on_path: bool,
    pub judged: Judged,
    /// Each account, and whether the tool can use it.
    pub choices: Vec<Choice>,
}

impl ToolReport {
    /// The state's level, and at least `warn` for a tool Redline connected that went astray.
    pub fn level(&self) -> crate::status::health::Level {
        use crate::status::health::Level;
        match self.judged.level() {
            Level::Ok | Level::Unknown if self.astray => Level::Warn,
            level => level,
        }
    }

    /// The object `redline tools --json` and `GET /api/v1/tools` give for the tool.
    pub fn to_json(&self) -> Value {
        let o = &self.observation;
        let mut entry = json!({
            "tool": o.tool.name(),
            "name": o.tool.display_name(),
            "detected": o.exists || self.on_path,
            "config_path": o.path,
            "config_file": self.shown,
            "config_exists": o.exists,
            "on_path": self.on_path,
            "connected": o.connected_to.is_some(),
            "connected_to": o.connected_to,
            "state": self.judged.code,
            "summary": self.judged.summary,
            "label": self.judged.label(),
            "level": self.level(),
            "accounts": self.choices,
        });
        if let (Some(obj), Value::Object(more)) = (entry.as_object_mut(), self.judged.fields()) {
            obj.extend(more);
        }
        entry
    }
}

/// Every tool, and the Redline they were judged against.
#[derive(Clone, Debug)]
pub struct ToolsReport {
    pub redline: SocketAddr,
    pub tools: Vec<ToolReport>,
}

impl ToolsReport {
    pub fn to_json(&self) -> Value {
        json!({
            "redline": self.redline.to_string(),
            "tools": self.tools.iter().map(ToolReport::to_json).collect::<Vec<_>>(),
        })
    }
}

/// The command that points a tool found by the key scan (named as the scan names it: `Kimi
/// CLI`, `OpenClaw`, `Claude Code`, `Codex`) at Redline for `account`; for other places
/// (`Shell`), the SDKs' variables and `redline tools`.
pub fn fix_command(scan_tool: &str, account: &str) -> String {
    let tool = match scan_tool {
        "Kimi CLI" | "Kimi Code CLI" => Some(Tool::Kimi),
        "OpenClaw" => Some(Tool::OpenClaw),
        "Claude Code" => Some(Tool::ClaudeCode),
        "Codex" => Some(Tool::Codex),
        "opencode" => Some(Tool::Opencode),
        "aider" => Some(Tool::Aider),
        _ => None,
    };
    match tool {
        Some(tool) => format!("`redline connect {tool} {account}`"),
        None => format!(
            "`redline env {account} --tool openai-sdk` (or anthropic-sdk) for scripts, `redline tools` for the tools Redline sets up"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(text: &str) -> Secret {
        Secret::parse(text).unwrap()
    }

    fn key_info(id: &str, current: &str, previous: Option<&str>) -> KeyInfo {
        KeyInfo {
            id: id.into(),
            provider: ProviderId::KimiCode,
            label: None,
            base_url: None,
            fingerprint: Some(secret(current).fingerprint()),
            age_days: Some(1),
            created_at: None,
            rotated_at: None,
            previous_fingerprint: previous.map(|p| secret(p).fingerprint()),
            last_test: None,
        }
    }

    const CURRENT: &str = "sk-kimi-CurrentKeyAbcdefghijklmnop1111";
    const OLD: &str = "sk-kimi-OldKeyAbcdefghijklmnopqrstu2222";
    const TOKEN: &str = "rl_0123456789abcdef0123456789abcdef";

    fn judge_of(state: &ToolState) -> Judged {
        let accounts = [key_info("kimi-main", CURRENT, Some(OLD))];
        let tokens = [("openclaw".to_owned(), secret(TOKEN))];
        judge(
            state,
            &Judge {
                accounts: &accounts,
                tokens: &tokens,
                running: "127.0.0.1:4290".parse().unwrap(),
            },
        )
    }

    fn direct(key: &str) -> ToolState {
        ToolState::Direct {
            base_url: Some("https://api.kimi.com/coding/v1".into()),
            key: Some(secret(key)),
        }
    }

    fn redline(address: &str, token: Option<&str>) -> ToolState {
        ToolState::Redline {
            address: address.into(),
            account: "kimi-main".into(),
            token: token.map(secret),
        }
    }

    #[test]
    fn states_are_judged_against_keys_tokens_and_the_running_address() {
        let judged = judge_of(&direct(CURRENT));
        assert_eq!(judged.code, StateCode::DirectCurrentKey);
        assert_eq!(judged.account.as_deref(), Some("kimi-main"));
        assert_eq!(judged.key, Some(secret(CURRENT).fingerprint()));
        let old = judge_of(&direct(OLD));
        assert_eq!(old.code, StateCode::DirectOldKey);
        assert!(old.summary.contains("an old key of kimi-main"), "{old:?}");
        assert_eq!(old.level(), crate::status::health::Level::Critical);
        assert_eq!(
            judge_of(&direct("sk-other-Abcdefghijklmnopqrstuvwx")).code,
            StateCode::Direct
        );

        let through = judge_of(&redline("127.0.0.1:4290", Some(TOKEN)));
        assert_eq!(
            (through.code, through.token),
            (StateCode::Redline, TokenSeen::Known)
        );
        assert_eq!(
            through.summary,
            "through Redline on account kimi-main with tool token openclaw"
        );
        assert_eq!(through.label(), "Through Redline");
        let revoked = judge_of(&redline("127.0.0.1:4290", Some("rl_revokedrevokedrevoked")));
        assert_eq!(
            (revoked.code, revoked.token),
            (StateCode::Redline, TokenSeen::Unknown)
        );
        assert_eq!(revoked.label(), "Token refused");
        let elsewhere = judge_of(&redline("127.0.0.1:4391", Some(TOKEN)));
        assert_eq!(elsewhere.code, StateCode::RedlineElsewhere);
        assert!(elsewhere.summary.contains("Redline runs on 127.0.0.1:4290"));
        assert_eq!(
            judge_of(&ToolState::NotConfigured).code,
            StateCode::NotConfigured
        );
    }

    #[test]
    fn the_json_keeps_the_fields_of_each_state_and_never_a_key() {
        let report = |state: ToolState| {
            ToolReport {
                astray: false,
                shown: "~/.claude/settings.json".into(),
                observation: Observation {
                    tool: Tool::ClaudeCode,
                    path: "/home/u/.claude/settings.json".into(),
                    exists: true,
                    connected_to: None,
                    state: Ok(state.clone()),
                },
                on_path: false,
                judged: judge_of(&state),
                choices: vec![Choice::for_account(
                    Tool::Codex,
                    &key_info("kimi-main", CURRENT, None),
                )],
            }
            .to_json()
        };
        let old = report(direct(OLD));
        assert_eq!(old["state"], "direct_old_key");
        assert_eq!(old["account"], "kimi-main");
        assert_eq!(old["level"], "critical");
        assert!(!old.to_string().contains(&OLD[8..24]), "{old}");
        let through = report(redline("127.0.0.1:4290", Some(TOKEN)));
        assert_eq!(through["token_tool"], "openclaw");
        assert_eq!(through["token"], "known");
        assert!(!through.to_string().contains(TOKEN), "{through}");
        // Codex cannot use Kimi Code: said per account.
        assert_eq!(through["accounts"][0]["usable"], false);
        assert!(
            through["accounts"][0]["reason"]
                .as_str()
                .unwrap()
                .starts_with("Codex speaks OpenAI responses; Kimi Code"),
            "{through}"
        );
    }

    fn target(tool: Tool, provider: ProviderId) -> Target {
        let address = "127.0.0.1:4290".parse().unwrap();
        tool_env::target(
            tool,
            "acct",
            provider,
            address,
            secret("rl_0123456789abcdef0123"),
        )
        .unwrap()
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
    fn a_refusal_is_told_in_the_providers_words_without_a_key() {
        assert_eq!(
            reason_in(r#"{"error": {"type": "rate_limit", "message": "Too many requests"}}"#),
            "Too many requests"
        );
        assert_eq!(reason_in(r#"{"message": "no"}"#), "no");
        assert_eq!(reason_in(" Bad gateway \n"), "Bad gateway");
        let quoted = reason_in(&format!(
            r#"{{"error": {{"message": "bad key {CURRENT}"}}}}"#
        ));
        assert!(!quoted.contains(&CURRENT[8..24]), "{quoted}");
    }

    #[test]
    fn connect_write_and_disconnect_round_trip_in_a_temporary_home() {
        let home = tempfile::tempdir().unwrap();
        let data = tempfile::tempdir().unwrap();
        let service = ConnectService::with_home(home.path(), data.path());
        let path = service.config_path(Tool::OpenClaw);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let original = "// mine\n{ gateway: { port: 18789 }, }\n";
        std::fs::write(&path, original).unwrap();
        let address = "127.0.0.1:4290".parse().unwrap();
        let prepared = service
            .prepare(
                Tool::OpenClaw,
                "kimi-main",
                ProviderId::KimiCode,
                address,
                secret(TOKEN),
            )
            .unwrap();
        assert!(
            !prepared.edit.preview.contains(TOKEN),
            "{}",
            prepared.edit.preview
        );
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            original,
            "nothing written yet"
        );
        assert!(!service.is_connected(Tool::OpenClaw));
        service.write(&prepared).unwrap();
        assert!(service.is_connected(Tool::OpenClaw));
        assert!(std::fs::read_to_string(&path).unwrap().contains(TOKEN));
        let observed = service.inspect(Tool::OpenClaw);
        assert!(
            matches!(observed.state, Ok(ToolState::Redline { .. })),
            "{observed:?}"
        );

        let done = service.disconnect(Tool::OpenClaw).unwrap();
        assert_eq!(done.code(), "restored");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), original);
        assert!(!service.is_connected(Tool::OpenClaw));
        assert_eq!(
            service.disconnect(Tool::OpenClaw).unwrap().code(),
            "not_connected"
        );

        // A broken file is refused with its place, and left as it was.
        std::fs::write(&path, "{ oops").unwrap();
        let err = service
            .prepare(
                Tool::OpenClaw,
                "kimi-main",
                ProviderId::KimiCode,
                address,
                secret(TOKEN),
            )
            .err()
            .unwrap();
        assert_eq!((err.code(), err.status()), ("unreadable_config", 422));
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "{ oops");
    }

    #[test]
    fn paths_under_home_are_shown_from_the_tilde() {
        let home = Path::new("/home/u");
        assert_eq!(
            shown_path(Path::new("/home/u/.claude/settings.json"), home),
            "~/.claude/settings.json"
        );
        assert_eq!(
            shown_path(Path::new("/etc/opencode/opencode.json"), home),
            "/etc/opencode/opencode.json"
        );
    }

    #[test]
    fn the_fix_names_the_tool_redline_can_connect() {
        assert_eq!(
            fix_command("OpenClaw", "kimi-main"),
            "`redline connect openclaw kimi-main`"
        );
        assert_eq!(
            fix_command("Kimi CLI", "kimi-main"),
            "`redline connect kimi kimi-main`"
        );
        assert_eq!(
            fix_command("Shell", "kimi-main"),
            "`redline env kimi-main --tool openai-sdk` (or anthropic-sdk) for scripts, \
             `redline tools` for the tools Redline sets up"
        );
    }
}
