//! Pointing a tool at Redline by editing the tool's own config file, safely, and taking it
//! back out.
//!
//! [`plan`] turns a file's current bytes and a [`Target`] (the account's route, API style,
//! model ids and the tool token) into the new bytes and a preview with the token masked;
//! [`undo`] gives back the exact original bytes when the file is as Redline wrote it, and
//! otherwise removes only what Redline added and keeps the user's edits; [`inspect`] tells
//! whether a file points at Redline, at a provider directly (with which key) or at nothing.
//! Nothing here reads or writes a file: [`write`] has the atomic write and the backup store,
//! [`service`] what `connect`, `disconnect` and `tools` do with the files (for the CLI and the
//! engine's API alike), [`setup`] the text `redline env` prints, and [`watch`] the engine's
//! watch over the files, whose decisions are [`notice`]'s.
//!
//! How it works: each tool (one file each) says which settings it writes (`sets`), and which
//! of them are Redline's own entries (a provider named `redline-<account>`) and which are
//! shared settings that merely pointed elsewhere before (`model`, `env.ANTHROPIC_BASE_URL`).
//! Each file format (one file each) reads a document keeping its text and edits it in place.
//! Undo compares the original with what Redline wrote to find what Redline changed, then in
//! the current file removes Redline's own entries and restores each shared setting that
//! still holds Redline's value.
//!
//! A file that does not parse is refused with its line, column and what is wrong; Redline
//! never rewrites a file it cannot read. CRLF files stay CRLF; a UTF-8 byte order mark stays.

mod aider;
mod claude_code;
mod codex;
mod json5;
mod kimi;
pub mod notice;
mod openclaw;
mod opencode;
#[cfg(test)]
mod props;
pub mod service;
pub mod setup;
mod toml;
pub mod watch;
pub mod write;
mod yaml;

pub use codex::profile_notes as codex_profile_notes;

use crate::keys::secret::{Secret, redact_keys};
use crate::providers::ProviderId;
use serde_json::Value;
use std::fmt;
use std::path::{Path, PathBuf};

/// A tool `redline connect` can set up.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Tool {
    ClaudeCode,
    Codex,
    OpenClaw,
    Kimi,
    Opencode,
    Aider,
}

impl Tool {
    pub const ALL: [Tool; 6] = [
        Tool::ClaudeCode,
        Tool::Codex,
        Tool::OpenClaw,
        Tool::Kimi,
        Tool::Opencode,
        Tool::Aider,
    ];

    /// The name on the command line and in `X-Redline-Tool`.
    pub fn name(self) -> &'static str {
        match self {
            Tool::ClaudeCode => "claude-code",
            Tool::Codex => "codex",
            Tool::OpenClaw => "openclaw",
            Tool::Kimi => "kimi",
            Tool::Opencode => "opencode",
            Tool::Aider => "aider",
        }
    }

    pub fn display_name(self) -> &'static str {
        match self {
            Tool::ClaudeCode => "Claude Code",
            Tool::Codex => "Codex",
            Tool::OpenClaw => "OpenClaw",
            Tool::Kimi => "Kimi Code CLI",
            Tool::Opencode => "opencode",
            Tool::Aider => "aider",
        }
    }

    pub fn from_name(name: &str) -> Option<Tool> {
        Tool::ALL.into_iter().find(|t| t.name() == name)
    }

    /// The config file, relative to the home directory. (opencode honours
    /// `XDG_CONFIG_HOME`, and the Kimi Code CLI `KIMI_SHARE_DIR`; the caller resolves those.)
    pub fn relative_path(self) -> &'static str {
        match self {
            Tool::ClaudeCode => ".claude/settings.json",
            Tool::Codex => ".codex/config.toml",
            Tool::OpenClaw => ".openclaw/openclaw.json",
            Tool::Kimi => ".kimi/config.toml",
            Tool::Opencode => ".config/opencode/opencode.json",
            Tool::Aider => ".aider.conf.yml",
        }
    }

    pub fn config_path(self, home: &Path) -> PathBuf {
        home.join(self.relative_path())
    }

    /// How messages name the file.
    pub fn display_path(self) -> String {
        format!("~/{}", self.relative_path())
    }

    /// The API styles the tool can speak to a custom endpoint, best first.
    pub fn styles(self) -> &'static [ApiStyle] {
        use ApiStyle::*;
        match self {
            Tool::ClaudeCode => &[AnthropicMessages],
            // Current Codex refuses `wire_api = "chat"`.
            Tool::Codex => &[OpenAiResponses],
            // OpenClaw's own Kimi Coding provider speaks Anthropic messages.
            Tool::OpenClaw => &[AnthropicMessages, OpenAiChat, OpenAiResponses],
            Tool::Kimi => &[OpenAiChat, AnthropicMessages, OpenAiResponses],
            Tool::Opencode => &[OpenAiChat, AnthropicMessages],
            Tool::Aider => &[OpenAiChat],
        }
    }

    /// The style to use when the account's provider offers `offered`: the tool's best one
    /// the provider has, or None when they share none.
    pub fn pick_style(self, offered: &[ApiStyle]) -> Option<ApiStyle> {
        self.styles().iter().copied().find(|s| offered.contains(s))
    }

    fn format(self) -> Format {
        match self {
            // Claude Code refuses a settings.json with a comment or a trailing comma ("Invalid
            // or malformed JSON") and then loads none of it.
            Tool::ClaudeCode => Format::Json,
            Tool::OpenClaw | Tool::Opencode => Format::Json5,
            Tool::Codex | Tool::Kimi => Format::Toml,
            Tool::Aider => Format::Yaml,
        }
    }

    fn spec(self) -> Spec {
        match self {
            Tool::ClaudeCode => claude_code::SPEC,
            Tool::Codex => codex::SPEC,
            Tool::OpenClaw => openclaw::SPEC,
            Tool::Kimi => kimi::SPEC,
            Tool::Opencode => opencode::SPEC,
            Tool::Aider => aider::SPEC,
        }
    }
}

impl fmt::Display for Tool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// How a tool talks to the route.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ApiStyle {
    /// `POST …/chat/completions`
    OpenAiChat,
    /// `POST …/responses`
    OpenAiResponses,
    /// `POST …/v1/messages`
    AnthropicMessages,
}

impl ApiStyle {
    pub fn name(self) -> &'static str {
        match self {
            ApiStyle::OpenAiChat => "OpenAI chat completions",
            ApiStyle::OpenAiResponses => "OpenAI responses",
            ApiStyle::AnthropicMessages => "Anthropic messages",
        }
    }
}

/// What a tool is pointed at.
#[derive(Clone, Debug)]
pub struct Target {
    /// The account id, such as `kimi-main`.
    pub account: String,
    pub provider: ProviderId,
    /// Redline's route for the account in the style the tool uses, as the style's SDKs take
    /// it: `http://127.0.0.1:4290/kimi-main/coding/v1` for OpenAI styles (the SDK appends
    /// `/chat/completions`), `http://127.0.0.1:4290/kimi-main/coding/` for Anthropic (the SDK
    /// appends `/v1/messages`). See [`route_base_url`].
    pub base_url: String,
    pub style: ApiStyle,
    /// The model id the tool asks for, such as `kimi-for-coding`.
    pub model: String,
    /// A smaller, faster model for background work, where the tool has such a setting.
    pub small_model: Option<String>,
    /// The model's context window in tokens (tools that need one: OpenClaw, Kimi Code CLI).
    pub context_window: u32,
    /// The most output tokens per answer (OpenClaw).
    pub max_output_tokens: u32,
    /// The tool token the tool presents to Redline; never a provider key. Prints redacted.
    pub token: Secret,
}

/// `http://<address>/<account><path>`: the route a tool uses, `path` being the provider's
/// path for the style (`/coding/v1`, `/anthropic`, or empty).
pub fn route_base_url(address: std::net::SocketAddr, account: &str, path: &str) -> String {
    format!("http://{address}/{account}{path}")
}

/// The result of [`plan`]: the file's new bytes and what changes, for people.
#[derive(Clone)]
pub struct Edit {
    /// The whole new file. Holds the tool token: write it, never log it.
    pub bytes: Vec<u8>,
    /// One line per setting: `+` added, `~` changed (with the old value), `=` already so.
    /// Tokens and keys appear masked.
    pub preview: String,
    /// Whether the file did not exist (or was empty) before.
    pub creates: bool,
}

impl fmt::Debug for Edit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Edit")
            .field("bytes", &format_args!("<{} bytes>", self.bytes.len()))
            .field("preview", &self.preview)
            .field("creates", &self.creates)
            .finish()
    }
}

/// Where a tool's config points.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ToolState {
    /// No file, or nothing in it that chooses an endpoint.
    NotConfigured,
    /// A provider directly. `key` is the key in the file, if one is, for the caller to compare
    /// with the account's current and previous keys.
    Direct {
        base_url: Option<String>,
        key: Option<Secret>,
    },
    /// Redline at `address` (`127.0.0.1:4290`) for `account`, presenting `token`.
    Redline {
        address: String,
        account: String,
        token: Option<Secret>,
    },
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EditError {
    #[error(
        "{file}, line {line}, column {column}: {message}. Redline left the file untouched; fix it and try again"
    )]
    Parse {
        file: String,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("{file}: {message}. Redline left the file untouched")]
    Shape { file: String, message: String },
    #[error(
        "{file} is not UTF-8 text. Redline left the file untouched; save it as UTF-8 and try again"
    )]
    Encoding { file: String },
    #[error("{tool} cannot use {style} APIs; it speaks {supported}")]
    Style {
        tool: &'static str,
        style: &'static str,
        supported: String,
    },
    #[error(
        "{tool} speaks {speaks}; {provider} offers {offers}, so {tool} cannot use this account through Redline. Nothing was written"
    )]
    NoCommonStyle {
        tool: &'static str,
        speaks: String,
        provider: &'static str,
        offers: String,
    },
    #[error("{message} (a bug in Redline; the file was left untouched)")]
    Internal { message: String },
}

/// A value Redline writes, with its members in the order they should appear in the file.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Val {
    Str(String),
    Int(i64),
    Bool(bool),
    Arr(Vec<Val>),
    Obj(Vec<(String, Val)>),
}

impl Val {
    fn s(text: impl Into<String>) -> Val {
        Val::Str(text.into())
    }

    fn obj(members: Vec<(&str, Val)>) -> Val {
        Val::Obj(
            members
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v))
                .collect(),
        )
    }

    /// `value` under the keys `path`: `{"a": {"b": value}}`.
    fn nest(path: &[&str], value: Val) -> Val {
        path.iter().rev().fold(value, |inner, key| {
            Val::Obj(vec![((*key).to_owned(), inner)])
        })
    }

    fn to_json(&self) -> Value {
        match self {
            Val::Str(s) => Value::String(s.clone()),
            Val::Int(n) => Value::from(*n),
            Val::Bool(b) => Value::Bool(*b),
            Val::Arr(items) => Value::Array(items.iter().map(Val::to_json).collect()),
            Val::Obj(members) => Value::Object(
                members
                    .iter()
                    .map(|(k, v)| (k.clone(), v.to_json()))
                    .collect(),
            ),
        }
    }

    /// Back from a value read in a file (to restore it); None for null, which no tool's
    /// setting is.
    fn from_json(value: &Value) -> Option<Val> {
        Some(match value {
            Value::Null => return None,
            Value::Bool(b) => Val::Bool(*b),
            Value::Number(n) => match n.as_i64() {
                Some(i) => Val::Int(i),
                None => Val::Str(n.to_string()),
            },
            Value::String(s) => Val::Str(s.clone()),
            Value::Array(items) => Val::Arr(items.iter().filter_map(Val::from_json).collect()),
            Value::Object(map) => Val::Obj(
                map.iter()
                    .filter_map(|(k, v)| Some((k.clone(), Val::from_json(v)?)))
                    .collect(),
            ),
        })
    }
}

/// One setting a tool's edit writes.
struct Set {
    path: Vec<String>,
    value: Val,
}

impl Set {
    fn new(path: &[&str], value: Val) -> Set {
        Set {
            path: path.iter().map(|s| (*s).to_owned()).collect(),
            value,
        }
    }
}

/// What a tool's edit touches, for undo.
#[derive(Clone, Copy)]
struct Spec {
    /// Settings Redline may change that belong to the user (restored on undo unless the user
    /// changed them since). Checked in order; a path inside or around one already found
    /// changed is skipped.
    shared: &'static [&'static [&'static str]],
    /// Maps in which Redline adds entries of its own, named `redline-…` (removed on undo).
    owned_maps: &'static [&'static [&'static str]],
}

/// The name of Redline's entry for an account: `redline-kimi-main`.
fn entry_name(account: &str) -> String {
    format!("{OWNED_PREFIX}{account}")
}

const OWNED_PREFIX: &str = "redline-";

#[derive(Clone, Copy)]
enum Format {
    /// Plain JSON, edited with the JSON5 editor (which keeps plain JSON plain).
    Json,
    Json5,
    Toml,
    Yaml,
}

enum Document {
    Json5(json5::Doc),
    Toml(toml::Doc),
    Yaml(yaml::Doc),
}

impl Document {
    fn parse(format: Format, text: &str, file: &str) -> Result<Document, EditError> {
        Ok(match format {
            Format::Json => {
                plain_json(text, file)?;
                Document::Json5(json5::Doc::parse(text, file)?)
            }
            Format::Json5 => Document::Json5(json5::Doc::parse(text, file)?),
            Format::Toml => Document::Toml(toml::Doc::parse(text, file)?),
            Format::Yaml => Document::Yaml(yaml::Doc::parse(text, file)?),
        })
    }

    fn get(&self, path: &[&str]) -> Option<Value> {
        match self {
            Document::Json5(d) => d.get(path),
            Document::Toml(d) => d.get(path),
            Document::Yaml(d) => d.get(path),
        }
    }

    /// A string setting, if it is one.
    fn string(&self, path: &[&str]) -> Option<String> {
        match self.get(path)? {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    fn keys(&self, path: &[&str]) -> Vec<String> {
        match self {
            Document::Json5(d) => d.keys(path),
            Document::Toml(d) => d.keys(path),
            Document::Yaml(d) => d.keys(path),
        }
    }

    fn set(&mut self, path: &[&str], value: &Val) -> Result<(), EditError> {
        match self {
            Document::Json5(d) => d.set(path, value),
            Document::Toml(d) => d.set(path, value),
            Document::Yaml(d) => d.set(path, value),
        }
    }

    fn remove(&mut self, path: &[&str]) -> Result<(), EditError> {
        match self {
            Document::Json5(d) => d.remove(path),
            Document::Toml(d) => d.remove(path),
            Document::Yaml(d) => d.remove(path),
        }
    }

    /// Sets `path` to its value in `other`, another version of the same file, spelled as
    /// `other` spells it (quotes, comments on its line) where the format allows.
    fn set_from(&mut self, other: &Document, path: &[&str]) -> Result<(), EditError> {
        match (self, other) {
            (Document::Json5(d), Document::Json5(o)) => match o.raw(path) {
                Some(raw) if d.get(path).is_some() => d.set_raw(path, raw),
                _ => match o.get(path).as_ref().and_then(Val::from_json) {
                    Some(v) => d.set(path, &v),
                    None => Ok(()),
                },
            },
            (Document::Toml(d), Document::Toml(o)) => d.set_from(o, path),
            (Document::Yaml(d), Document::Yaml(o)) => d.set_from(o, path),
            _ => unreachable!("versions of one file share a format"),
        }
    }

    fn text(&self) -> String {
        match self {
            Document::Json5(d) => d.text().to_owned(),
            Document::Toml(d) => d.text(),
            Document::Yaml(d) => d.text().to_owned(),
        }
    }

    /// Whether nothing is set at all (`{}`, an empty TOML or YAML file).
    fn is_empty(&self) -> bool {
        match self.get(&[]) {
            Some(Value::Object(map)) => map.is_empty(),
            Some(Value::Null) | None => true,
            Some(_) => false,
        }
    }
}

/// Refuses what is not plain JSON (comments, trailing commas, single quotes…), which the tool
/// itself would refuse. An empty file is fine: it is created.
fn plain_json(text: &str, file: &str) -> Result<(), EditError> {
    if text.trim().is_empty() {
        return Ok(());
    }
    let Err(e) = serde_json::from_str::<serde::de::IgnoredAny>(text) else {
        return Ok(());
    };
    // serde_json's message without its " at line L column C", which the error states.
    let shown = e.to_string();
    let what = shown.split(" at line ").next().unwrap_or_default();
    Err(EditError::Parse {
        file: file.to_owned(),
        line: e.line(),
        column: e.column(),
        message: format!(
            "not plain JSON ({what}); the tool reads this file as strict JSON, without comments or trailing commas"
        ),
    })
}

/// A file's text, with what must be put back when writing: a byte order mark, CRLF endings.
struct Text {
    body: String,
    bom: bool,
    crlf: bool,
}

impl Text {
    fn decode(bytes: Option<&[u8]>, file: &str) -> Result<Text, EditError> {
        let bytes = bytes.unwrap_or_default();
        let (bom, bytes) = match bytes.strip_prefix(b"\xEF\xBB\xBF") {
            Some(rest) => (true, rest),
            None => (false, bytes),
        };
        let body = std::str::from_utf8(bytes)
            .map_err(|_| EditError::Encoding {
                file: file.to_owned(),
            })?
            .to_owned();
        let crlf = body.contains("\r\n");
        Ok(Text { body, bom, crlf })
    }

    /// `text` written in this file's conventions.
    fn encode(&self, text: &str) -> Vec<u8> {
        let mut out = Vec::with_capacity(text.len() + 8);
        if self.bom {
            out.extend_from_slice(b"\xEF\xBB\xBF");
        }
        if self.crlf {
            let mut previous = 0u8;
            for &b in text.as_bytes() {
                if b == b'\n' && previous != b'\r' {
                    out.push(b'\r');
                }
                out.push(b);
                previous = b;
            }
        } else {
            out.extend_from_slice(text.as_bytes());
        }
        out
    }
}

/// The new bytes of `tool`'s config file pointing it at `target`, from its current bytes
/// (None: the file does not exist).
pub fn plan(tool: Tool, current: Option<&[u8]>, target: &Target) -> Result<Edit, EditError> {
    if !tool.styles().contains(&target.style) {
        return Err(EditError::Style {
            tool: tool.display_name(),
            style: target.style.name(),
            supported: tool
                .styles()
                .iter()
                .map(|s| s.name())
                .collect::<Vec<_>>()
                .join(" or "),
        });
    }
    let file = tool.display_path();
    let text = Text::decode(current, &file)?;
    let mut doc = Document::parse(tool.format(), &text.body, &file)?;
    let creates = text.body.trim().is_empty();
    let sets = match tool {
        Tool::ClaudeCode => claude_code::sets(&doc, target)?,
        Tool::Codex => codex::sets(&doc, target),
        Tool::OpenClaw => openclaw::sets(&doc, target),
        Tool::Kimi => kimi::sets(&doc, target),
        Tool::Opencode => opencode::sets(&doc, target),
        Tool::Aider => aider::sets(&doc, target),
    };
    let mut preview = vec![format!(
        "{} ({}) → Redline for {}:",
        file,
        tool.display_name(),
        target.account
    )];
    for set in &sets {
        let path: Vec<&str> = set.path.iter().map(String::as_str).collect();
        let old = doc.get(&path);
        let new = set.value.to_json();
        let shown = show_path(&path);
        let name = path.last().copied().unwrap_or_default();
        let line = match &old {
            None => format!("  + {shown} = {}", shown_value(&new, name, &target.token)),
            Some(old) if *old == new => format!("  = {shown} (already so)"),
            Some(old) => format!(
                "  ~ {shown} = {} (was {})",
                shown_value(&new, name, &target.token),
                // The user's value may hold a key under any name: whatever looks like one is
                // masked.
                redact_keys(&shown_value(old, name, &target.token))
            ),
        };
        preview.push(line);
        doc.set(&path, &set.value)?;
    }
    let out = doc.text();
    // The edit must read back in the format's own parser.
    Document::parse(tool.format(), &out, &file).map_err(|e| EditError::Internal {
        message: format!("the edited {file} did not read back: {e}"),
    })?;
    Ok(Edit {
        bytes: text.encode(&out),
        preview: preview.join("\n"),
        creates,
    })
}

/// Taking Redline back out of `tool`'s config. `original` is the file before `connect` (None:
/// there was none), `written` what `connect` wrote, `current` the file now (None: gone).
///
/// Returns the bytes to write, or None to delete the file (it did not exist before and holds
/// nothing else now). When `current` is exactly `written`, that is `original` byte for byte.
/// Otherwise Redline's own entries are removed, every shared setting still holding Redline's
/// value gets its original value back (or goes, if it had none), and the user's other edits
/// stay.
pub fn undo(
    tool: Tool,
    original: Option<&[u8]>,
    written: &[u8],
    current: Option<&[u8]>,
) -> Result<Option<Vec<u8>>, EditError> {
    let Some(current) = current else {
        return Ok(None);
    };
    if current == written {
        return Ok(original.map(<[u8]>::to_vec));
    }
    let file = tool.display_path();
    let format = tool.format();
    let parse = |bytes: Option<&[u8]>| -> Result<(Text, Document), EditError> {
        let text = Text::decode(bytes, &file)?;
        let doc = Document::parse(format, &text.body, &file)?;
        Ok((text, doc))
    };
    let (_, before) = parse(original).map_err(|e| EditError::Internal {
        message: format!("the saved copy of {file} does not read: {e}"),
    })?;
    let (_, wrote) = parse(Some(written)).map_err(|e| EditError::Internal {
        message: format!("the saved copy of what Redline wrote to {file} does not read: {e}"),
    })?;
    let (text, mut now) = parse(Some(current))?;
    for (path, owned) in changed(tool.spec(), &before, &wrote) {
        let path: Vec<&str> = path.iter().map(String::as_str).collect();
        let Some(value_now) = now.get(&path) else {
            continue;
        };
        if !owned && Some(&value_now) != wrote.get(&path).as_ref() {
            continue;
        }
        if before.get(&path).is_some() {
            now.set_from(&before, &path)?;
        } else {
            now.remove(&path)?;
        }
        // Drop the maps Redline made to hold its entry, once they are empty.
        for len in (1..path.len()).rev() {
            let parent = &path[..len];
            let empty = matches!(now.get(parent), Some(Value::Object(m)) if m.is_empty());
            if before.get(parent).is_some() || !empty {
                break;
            }
            now.remove(parent)?;
        }
    }
    if original.is_none() && now.is_empty() {
        return Ok(None);
    }
    let out = now.text();
    if let Some(original) = original
        && Text::decode(Some(original), &file)?.body == out
    {
        return Ok(Some(original.to_vec()));
    }
    Ok(Some(text.encode(&out)))
}

/// What Redline changed from `before` to `wrote`: (path, whether it is Redline's own entry).
fn changed(spec: Spec, before: &Document, wrote: &Document) -> Vec<(Vec<String>, bool)> {
    let mut found: Vec<(Vec<String>, bool)> = Vec::new();
    for path in spec.shared {
        let overlaps = found.iter().any(|(p, _)| {
            let n = p.len().min(path.len());
            p[..n].iter().zip(&path[..n]).all(|(a, b)| a == b)
        });
        if !overlaps && before.get(path) != wrote.get(path) {
            found.push((path.iter().map(|s| (*s).to_owned()).collect(), false));
        }
    }
    for map in spec.owned_maps {
        for key in wrote.keys(map) {
            if !key.starts_with(OWNED_PREFIX) {
                continue;
            }
            let mut path: Vec<&str> = map.to_vec();
            path.push(&key);
            if before.get(&path) != wrote.get(&path) {
                found.push((path.iter().map(|s| (*s).to_owned()).collect(), true));
            }
        }
    }
    found
}

/// Where `tool`'s config file (`bytes`; None: missing) points.
pub fn inspect(tool: Tool, bytes: Option<&[u8]>) -> Result<ToolState, EditError> {
    let file = tool.display_path();
    let text = Text::decode(bytes, &file)?;
    let doc = Document::parse(tool.format(), &text.body, &file)?;
    Ok(match tool {
        Tool::ClaudeCode => claude_code::inspect(&doc),
        Tool::Codex => codex::inspect(&doc),
        Tool::OpenClaw => openclaw::inspect(&doc),
        Tool::Kimi => kimi::inspect(&doc),
        Tool::Opencode => opencode::inspect(&doc),
        Tool::Aider => aider::inspect(&doc),
    })
}

/// The state for an endpoint and the credential beside it: Redline when the URL is on this
/// machine (`http://127.0.0.1:4290/<account>/…`), else the provider directly.
fn state_for(base_url: Option<String>, key: Option<String>) -> ToolState {
    let secret = key.and_then(|k| Secret::parse(&k).ok());
    if let Some(url) = base_url.as_deref().and_then(|u| url::Url::parse(u).ok()) {
        let local = match url.host() {
            Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
            Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
            Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
            None => false,
        };
        let account = url
            .path_segments()
            .and_then(|mut s| s.find(|seg| !seg.is_empty()))
            .map(str::to_owned);
        if local && let (Some(account), Some(port)) = (account, url.port_or_known_default()) {
            let host = match url.host() {
                Some(url::Host::Ipv6(ip)) => format!("[{ip}]"),
                Some(h) => h.to_string(),
                None => unreachable!(),
            };
            return ToolState::Redline {
                address: format!("{host}:{port}"),
                account,
                token: secret,
            };
        }
    }
    if base_url.is_none() && secret.is_none() {
        return ToolState::NotConfigured;
    }
    ToolState::Direct {
        base_url,
        key: secret,
    }
}

/// `provider/model` split at the first slash (OpenClaw's and opencode's model references).
fn split_model_ref(reference: &str) -> Option<(&str, &str)> {
    reference.split_once('/')
}

/// 1-based line and column (in characters) of a byte offset.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[line_start..].chars().count() + 1)
}

/// `env.ANTHROPIC_BASE_URL`, `agents.defaults.models["redline-x/kimi"]`.
fn show_path(path: &[&str]) -> String {
    let mut out = String::new();
    for (i, segment) in path.iter().enumerate() {
        let plain = !segment.is_empty()
            && segment
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if plain {
            if i > 0 {
                out.push('.');
            }
            out.push_str(segment);
        } else {
            out.push_str(&format!(
                "[{}]",
                serde_json::to_string(segment).expect("a string")
            ));
        }
    }
    out
}

/// A value for the preview: the token, and anything under a key-like name, masked.
fn shown_value(value: &Value, name: &str, token: &Secret) -> String {
    let masked = mask(value, is_secret_name(name), token);
    serde_json::to_string(&masked).expect("a value serialises")
}

fn mask(value: &Value, secret_here: bool, token: &Secret) -> Value {
    match value {
        Value::String(s) if secret_here => {
            Value::String(Secret::parse(s).map_or_else(|_| "…".to_owned(), |k| k.fingerprint()))
        }
        Value::String(s) => Value::String(s.replace(token.expose(), &token.fingerprint())),
        Value::Array(items) => {
            Value::Array(items.iter().map(|v| mask(v, secret_here, token)).collect())
        }
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), mask(v, is_secret_name(k), token)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// Setting names that hold credentials.
fn is_secret_name(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    ["key", "token", "secret", "authorization", "password"]
        .iter()
        .any(|w| lower.contains(w))
}

#[cfg(test)]
mod tests;
