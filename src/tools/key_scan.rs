//! Where each key is used: a read-only scan of the config files of known AI tools and of the
//! environment, matched against the keys Redline stores (current and previous) and its local
//! token, without ever showing a secret.
//!
//! [`scan`] reads the files (missing ones are skipped; a malformed one becomes a warning that
//! names the file and the place, never its contents); [`match_found`] is the pure decision of
//! which stored key, if any, each credential found is.

use crate::config::Config;
use crate::keys::account_id::AccountId;
use crate::keys::secret::Secret;
use crate::keys::vault::{Slot, Vault, VaultError};
use crate::providers::ProviderId;
use crate::status::model::{KeyUse, KeyUseKind};
use jiff::Timestamp;
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// A credential found in a tool's configuration or in the environment.
#[derive(Clone, Debug)]
pub struct Found {
    /// `Kimi CLI`, `OpenClaw`, `Claude Code`, `Codex` or `Shell`.
    pub tool: &'static str,
    /// `~/.openclaw/openclaw.json` or `$OPENAI_API_KEY`.
    pub source: String,
    /// Where in the file: `models.providers.kimi.apiKey` (empty for an environment variable).
    pub field: String,
    /// The base URL configured beside the key, if any.
    pub base_url: Option<String>,
    /// The provider the key is for, as far as the context tells.
    pub provider: Option<ProviderId>,
    pub secret: Secret,
}

/// A file that could not be read or understood. Never quotes the file's contents.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ScanWarning {
    pub source: String,
    pub message: String,
}

impl std::fmt::Display for ScanWarning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.source, self.message)
    }
}

#[derive(Clone, Debug, Default)]
pub struct Scan {
    pub found: Vec<Found>,
    pub warnings: Vec<ScanWarning>,
}

#[derive(Clone, Copy)]
enum Format {
    Toml,
    Json,
    Json5,
}

/// The tool configuration files Redline knows, relative to the home directory.
const FILES: &[(&str, &str, Format)] = &[
    ("Kimi CLI", ".kimi/config.toml", Format::Toml),
    ("OpenClaw", ".openclaw/openclaw.json", Format::Json5),
    ("Claude Code", ".claude/settings.json", Format::Json),
    ("Claude Code", ".claude/.credentials.json", Format::Json),
    ("Claude Code", ".claude.json", Format::Json),
    ("Codex", ".codex/auth.json", Format::Json),
    ("Codex", ".codex/config.toml", Format::Toml),
];

/// Environment variables that hold provider keys, and the provider each names: every
/// provider's own ([`crate::providers::Facts::key_variables`]), and Claude Code's token
/// variable, which any Anthropic-style provider's key may be in.
fn env_keys() -> impl Iterator<Item = (&'static str, Option<ProviderId>)> {
    let own = ProviderId::ALL.into_iter().flat_map(|provider| {
        provider
            .facts()
            .key_variables
            .iter()
            .map(move |name| (*name, Some(provider)))
    });
    own.chain([("ANTHROPIC_AUTH_TOKEN", None)])
}

/// Field names that hold a key in tool config files (besides `*_API_KEY`/`*_AUTH_TOKEN`).
const KEY_FIELDS: &[&str] = &[
    "api_key",
    "apiKey",
    "apikey",
    "primaryApiKey",
    "accessToken",
    "experimental_bearer_token",
];

const BASE_URL_FIELDS: &[&str] = &["base_url", "baseUrl", "baseURL"];

/// Scans the tool files under `home` and the variables `env` gives. Read-only.
pub fn scan(home: &Path, env: &dyn Fn(&str) -> Option<String>) -> Scan {
    let mut result = Scan::default();
    for &(tool, relative, format) in FILES {
        let path = home.join(relative);
        let source = format!("~/{relative}");
        match read_tree(&path, format) {
            Ok(None) => {}
            Ok(Some(tree)) => {
                let mut found = Vec::new();
                walk(&tree, "", &mut found);
                for (field, text, base_url, env_name) in found {
                    match Secret::parse(&text) {
                        Ok(secret) => result.found.push(Found {
                            tool,
                            source: source.clone(),
                            provider: guess_provider(
                                base_url.as_deref(),
                                env_name.as_deref(),
                                &secret,
                                tool,
                            ),
                            field,
                            base_url,
                            secret,
                        }),
                        Err(_) => result.warnings.push(ScanWarning {
                            source: source.clone(),
                            message: format!(
                                "{field} does not look like a key (empty, or spaces inside); skipped"
                            ),
                        }),
                    }
                }
            }
            Err(message) => result.warnings.push(ScanWarning { source, message }),
        }
    }
    for (name, _) in env_keys() {
        let Some(text) = env(name).filter(|t| !t.trim().is_empty()) else {
            continue;
        };
        let source = format!("${name}");
        match Secret::parse(&text) {
            Ok(secret) => {
                let base_url = env_base_url(name).and_then(env);
                result.found.push(Found {
                    tool: "Shell",
                    provider: guess_provider(base_url.as_deref(), Some(name), &secret, "Shell"),
                    source,
                    field: String::new(),
                    base_url,
                    secret,
                });
            }
            Err(_) => result.warnings.push(ScanWarning {
                source,
                message: "does not look like a key (spaces or line breaks inside); skipped".into(),
            }),
        }
    }
    result
}

/// The current user's home directory (`$HOME` on Unix).
pub fn home_dir() -> Option<PathBuf> {
    directories::BaseDirs::new().map(|dirs| dirs.home_dir().to_path_buf())
}

/// A tool file as a tree: `None` when it does not exist, an error message when it is not
/// readable or not valid. Messages give the place of a syntax error, never the text there.
fn read_tree(path: &Path, format: Format) -> Result<Option<Value>, String> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(err) if err.kind() == std::io::ErrorKind::InvalidData => {
            return Err("is not UTF-8 text; skipped".into());
        }
        Err(err) => return Err(format!("cannot be read ({err}); skipped")),
    };
    let tree = match format {
        Format::Toml => toml::from_str::<Value>(&text).map_err(|err| {
            let place = err
                .span()
                .map(|span| line_column(&text, span.start))
                .map(|(line, column)| format!(" at line {line}, column {column}"))
                .unwrap_or_default();
            format!(
                "is not valid TOML{place} ({}); skipped: fix the file, then check again",
                first_line(err.message())
            )
        }),
        Format::Json => serde_json::from_str::<Value>(&text).map_err(|err| {
            format!(
                "is not valid JSON at line {}, column {} ({}); skipped: fix the file, then check again",
                err.line(),
                err.column(),
                json_problem(err.classify())
            )
        }),
        Format::Json5 => json5::from_str::<Value>(&text).map_err(|err| {
            let place = err
                .position()
                .map(|p| format!(" at line {}, column {}", p.line + 1, p.column + 1))
                .unwrap_or_default();
            let what = err
                .code()
                .map(|code| code.to_string())
                .unwrap_or_else(|| "unexpected content".into());
            format!("is not valid JSON5{place} ({what}); skipped: fix the file, then check again")
        }),
    }?;
    if !tree.is_object() {
        return Err("does not hold an object at the top level; skipped".into());
    }
    Ok(Some(tree))
}

fn json_problem(category: serde_json::error::Category) -> &'static str {
    match category {
        serde_json::error::Category::Eof => "the file ends too early",
        serde_json::error::Category::Syntax => "syntax error",
        serde_json::error::Category::Data => "unexpected data",
        serde_json::error::Category::Io => "read error",
    }
}

/// The first line of a parser's message (the `toml` crate's message carries no source text).
fn first_line(message: &str) -> &str {
    message.lines().next().unwrap_or(message)
}

fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().unwrap_or("").chars().count() + 1;
    (line, column)
}

/// Every key-holding field below `value`: (dotted path, text, base URL beside it, the field's
/// name when it is an environment variable's).
fn walk(
    value: &Value,
    path: &str,
    found: &mut Vec<(String, String, Option<String>, Option<String>)>,
) {
    match value {
        Value::Object(map) => {
            for (name, child) in map {
                let here = if path.is_empty() {
                    name.clone()
                } else {
                    format!("{path}.{name}")
                };
                match child {
                    Value::String(text) if holds_key(name) && !is_reference(text) => {
                        let env_name = is_env_name(name).then(|| name.clone());
                        let base_url = BASE_URL_FIELDS
                            .iter()
                            .copied()
                            .chain(env_base_url(name))
                            .find_map(|field| map.get(field)?.as_str())
                            .map(str::to_owned);
                        found.push((here, text.clone(), base_url, env_name));
                    }
                    _ => walk(child, &here, found),
                }
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                walk(item, &format!("{path}[{i}]"), found);
            }
        }
        _ => {}
    }
}

fn holds_key(field: &str) -> bool {
    KEY_FIELDS.contains(&field) || is_env_name(field)
}

/// `OPENAI_API_KEY`, `ANTHROPIC_AUTH_TOKEN`: the names tools read keys from.
fn is_env_name(field: &str) -> bool {
    (field.ends_with("_API_KEY") || field.ends_with("_AUTH_TOKEN"))
        && field
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
}

/// `${OPENAI_API_KEY}`, `$KEY`, `env:KEY`: a pointer to a key elsewhere, not a key.
fn is_reference(text: &str) -> bool {
    let text = text.trim();
    text.is_empty() || text.starts_with('$') || text.starts_with("env:")
}

/// The variable that holds the base URL for a key variable.
fn env_base_url(name: &str) -> Option<&'static str> {
    match name.split('_').next()? {
        "ANTHROPIC" => Some("ANTHROPIC_BASE_URL"),
        "OPENAI" => Some("OPENAI_BASE_URL"),
        "KIMI" => Some("KIMI_BASE_URL"),
        "MOONSHOT" => Some("MOONSHOT_BASE_URL"),
        _ => None,
    }
}

/// The provider a key is for: from the host it is sent to, else the variable's name, else the
/// key's own prefix, else what the tool uses by default.
pub fn guess_provider(
    base_url: Option<&str>,
    env_name: Option<&str>,
    secret: &Secret,
    tool: &str,
) -> Option<ProviderId> {
    if let Some(provider) = base_url.and_then(provider_for_url) {
        return Some(provider);
    }
    if let Some(name) = env_name
        && let Some((_, Some(provider))) = env_keys().find(|(n, _)| *n == name)
    {
        return Some(provider);
    }
    // The longest prefix wins: `sk-ant-oat` (Claude) over `sk-ant-` (Anthropic).
    let key = secret.expose();
    let by_prefix = ProviderId::ALL
        .into_iter()
        .flat_map(|provider| {
            provider
                .facts()
                .key_prefixes
                .iter()
                .map(move |prefix| (*prefix, provider))
        })
        .filter(|(prefix, _)| key.starts_with(prefix))
        .max_by_key(|(prefix, _)| prefix.len());
    if let Some((_, provider)) = by_prefix {
        return Some(provider);
    }
    match tool {
        "Codex" => Some(ProviderId::Openai),
        _ => None,
    }
}

/// The provider whose API host `url` is: a host of one of its regions or one of its
/// [`crate::providers::Facts::more_hosts`]; the first provider listed wins a shared host
/// (Anthropic's API before the Claude subscription).
fn provider_for_url(url: &str) -> Option<ProviderId> {
    let host = url::Url::parse(url).ok()?.host_str()?.to_ascii_lowercase();
    ProviderId::ALL.into_iter().find(|&provider| {
        let regions = crate::providers::provider(provider).regions();
        regions
            .iter()
            .filter_map(|region| url::Url::parse(region.api_base).ok())
            .any(|base| base.host_str() == Some(host.as_str()))
            || provider.facts().more_hosts.contains(&host.as_str())
    })
}

/// The account a Redline proxy URL addresses: `http://127.0.0.1:4290/kimi-main/coding/v1`.
fn proxy_account(url: &str) -> Option<String> {
    let parsed = url::Url::parse(url).ok()?;
    let loopback = match parsed.host()? {
        url::Host::Domain(name) => name == "localhost",
        url::Host::Ipv4(ip) => ip.is_loopback(),
        url::Host::Ipv6(ip) => ip.is_loopback(),
    };
    let first = parsed.path_segments()?.next()?;
    (loopback && first.parse::<AccountId>().is_ok()).then(|| first.to_owned())
}

/// One stored account's keys, read from the keyring for matching.
#[derive(Clone, Debug)]
pub struct StoredKey {
    pub id: String,
    pub provider: ProviderId,
    pub current: Option<Secret>,
    pub previous: Option<Secret>,
    pub rotated_at: Option<Timestamp>,
}

/// Every account's current and previous key. Blocking (keyring).
pub fn load_stored(vault: &Vault, config: &Config) -> Result<Vec<StoredKey>, VaultError> {
    config
        .accounts
        .iter()
        .map(|(id, account)| {
            Ok(StoredKey {
                id: id.to_string(),
                provider: account.provider,
                current: vault.get(&Slot::Current(id.clone()))?,
                previous: match account.previous_fingerprint {
                    Some(_) => vault.get(&Slot::Previous(id.clone()))?,
                    None => None,
                },
                rotated_at: account.rotated_at,
            })
        })
        .collect()
}

/// Whose a credential found is.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Holder {
    /// One of a stored account's keys (`key` is current or previous).
    Account { id: String, key: KeyUseKind },
    /// Redline's local token: the tool goes through the proxy (for `account`, when its base
    /// URL names one).
    LocalToken { account: Option<String> },
    /// A key Redline does not store.
    Unknown {
        fingerprint: String,
        provider: Option<ProviderId>,
    },
}

/// One credential found and whose it is. Serialises without the secret.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub tool: String,
    pub source: String,
    pub field: String,
    pub holder: Holder,
}

/// Matches every credential found against the stored keys and the local token, comparing in
/// constant time ([`Secret::matches`]).
pub fn match_found(found: &[Found], stored: &[StoredKey], tokens: &[Secret]) -> Vec<Finding> {
    found
        .iter()
        .map(|f| {
            let candidate = f.secret.expose().as_bytes();
            let holder = if tokens.iter().any(|t| t.matches(candidate)) {
                Holder::LocalToken {
                    account: f.base_url.as_deref().and_then(proxy_account),
                }
            } else if let Some(s) = stored
                .iter()
                .find(|s| s.current.as_ref().is_some_and(|k| k.matches(candidate)))
            {
                Holder::Account {
                    id: s.id.clone(),
                    key: KeyUseKind::Current,
                }
            } else if let Some(s) = stored
                .iter()
                .find(|s| s.previous.as_ref().is_some_and(|k| k.matches(candidate)))
            {
                Holder::Account {
                    id: s.id.clone(),
                    key: KeyUseKind::Previous,
                }
            } else {
                Holder::Unknown {
                    fingerprint: f.secret.fingerprint(),
                    provider: f.provider,
                }
            };
            Finding {
                tool: f.tool.to_owned(),
                source: f.source.clone(),
                field: f.field.clone(),
                holder,
            }
        })
        .collect()
}

/// Each stored account's users, for `accounts[].key.used_by` (every account has an entry).
pub fn uses_by_account(
    findings: &[Finding],
    stored: &[StoredKey],
) -> BTreeMap<String, Vec<KeyUse>> {
    let mut uses: BTreeMap<String, Vec<KeyUse>> =
        stored.iter().map(|s| (s.id.clone(), Vec::new())).collect();
    for finding in findings {
        let (id, key) = match &finding.holder {
            Holder::Account { id, key } => (id, *key),
            Holder::LocalToken { account: Some(id) } => (id, KeyUseKind::Proxy),
            _ => continue,
        };
        if let Some(list) = uses.get_mut(id) {
            let item = KeyUse {
                tool: finding.tool.clone(),
                source: finding.source.clone(),
                key,
            };
            if !list.contains(&item) {
                list.push(item);
            }
        }
    }
    uses
}

/// One line about a finding, such as `OpenClaw (~/.openclaw/openclaw.json,
/// models.providers.kimi.apiKey) uses kimi-main: the OLD key, rotated 2 days ago`.
pub fn describe(finding: &Finding, stored: &[StoredKey], now: Timestamp) -> String {
    let place = if finding.field.is_empty() {
        finding.source.clone()
    } else {
        format!("{}, {}", finding.source, finding.field)
    };
    let what = match &finding.holder {
        Holder::Account {
            id,
            key: KeyUseKind::Previous,
        } => {
            let when = stored
                .iter()
                .find(|s| &s.id == id)
                .and_then(|s| s.rotated_at)
                .map(|at| format!(", rotated {}", ago(at, now)))
                .unwrap_or_default();
            format!(
                "uses {id}: the OLD key{when}. Give it the new key, or better point it at Redline: {}",
                crate::tools::connect::service::fix_command(&finding.tool, id)
            )
        }
        Holder::Account { id, .. } => format!("uses {id} (the current key)"),
        Holder::LocalToken { account: Some(id) } => {
            format!("goes through Redline for {id} (local token)")
        }
        Holder::LocalToken { account: None } => {
            "holds Redline's local token (its base URL does not name an account)".into()
        }
        Holder::Unknown {
            fingerprint,
            provider,
        } => {
            let provider = provider
                .map(|p| format!(", {}", p.display_name()))
                .unwrap_or_default();
            format!(
                "holds a key Redline does not store ({fingerprint}{provider}): `redline keys import` can add it"
            )
        }
    };
    format!("{} ({place}) {what}", finding.tool)
}

/// `2 days ago`, `3 hours ago`, `just now`.
pub fn ago(at: Timestamp, now: Timestamp) -> String {
    let seconds = now.duration_since(at).as_secs().max(0);
    let plural = |n: i64, unit: &str| format!("{n} {unit}{} ago", if n == 1 { "" } else { "s" });
    match seconds {
        s if s < 60 => "just now".into(),
        s if s < 3600 => plural(s / 60, "minute"),
        s if s < 2 * 86_400 => plural(s / 3600, "hour"),
        s => plural(s / 86_400, "day"),
    }
}

/// Scans and matches in one go: the findings, each account's users and the warnings. Blocking
/// (files and keyring). `tokens` are Redline's tool tokens.
pub fn where_used(
    home: &Path,
    env: &dyn Fn(&str) -> Option<String>,
    vault: &Vault,
    config: &Config,
    tokens: &[Secret],
) -> Result<Report, VaultError> {
    let scan = scan(home, env);
    let stored = load_stored(vault, config)?;
    let findings = match_found(&scan.found, &stored, tokens);
    let used_by = uses_by_account(&findings, &stored);
    Ok(Report {
        found: scan.found,
        findings,
        used_by,
        warnings: scan.warnings,
        stored,
    })
}

#[derive(Clone, Debug)]
pub struct Report {
    /// The credentials themselves, index for index with `findings` (for `keys import`).
    pub found: Vec<Found>,
    pub findings: Vec<Finding>,
    pub used_by: BTreeMap<String, Vec<KeyUse>>,
    pub warnings: Vec<ScanWarning>,
    pub stored: Vec<StoredKey>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(text: &str) -> Secret {
        Secret::parse(text).unwrap()
    }

    fn found(source: &str, key: &str, base_url: Option<&str>) -> Found {
        Found {
            tool: "OpenClaw",
            source: source.into(),
            field: "models.providers.kimi.apiKey".into(),
            base_url: base_url.map(str::to_owned),
            provider: None,
            secret: secret(key),
        }
    }

    #[test]
    fn matching_tells_current_previous_token_and_unknown_apart() {
        let stored = vec![StoredKey {
            id: "kimi-main".into(),
            provider: ProviderId::KimiCode,
            current: Some(secret("sk-kimi-NewKeyAbcdefghijklmn2222")),
            previous: Some(secret("sk-kimi-OldKeyAbcdefghijklmn1111")),
            rotated_at: Some("2026-11-27T12:00:00Z".parse().unwrap()),
        }];
        let token = secret("rl_0123456789abcdef0123456789abcdef");
        let all = [
            found("a", "sk-kimi-NewKeyAbcdefghijklmn2222", None),
            found("b", "sk-kimi-OldKeyAbcdefghijklmn1111", None),
            found(
                "c",
                token.expose(),
                Some("http://127.0.0.1:4290/kimi-main/coding/v1"),
            ),
            found("d", token.expose(), Some("https://api.kimi.com/coding/v1")),
            found("e", "sk-kimi-SomebodyElseAbcdefghi9999", None),
        ];
        let findings = match_found(&all, &stored, std::slice::from_ref(&token));
        let holders: Vec<&Holder> = findings.iter().map(|f| &f.holder).collect();
        assert_eq!(
            holders,
            [
                &Holder::Account {
                    id: "kimi-main".into(),
                    key: KeyUseKind::Current
                },
                &Holder::Account {
                    id: "kimi-main".into(),
                    key: KeyUseKind::Previous
                },
                &Holder::LocalToken {
                    account: Some("kimi-main".into())
                },
                &Holder::LocalToken { account: None },
                &Holder::Unknown {
                    fingerprint: "sk-kimi-…9999".into(),
                    provider: None
                },
            ]
        );
        let uses = uses_by_account(&findings, &stored);
        let kinds: Vec<KeyUseKind> = uses["kimi-main"].iter().map(|u| u.key).collect();
        assert_eq!(
            kinds,
            [KeyUseKind::Current, KeyUseKind::Previous, KeyUseKind::Proxy]
        );

        let now = "2026-11-29T12:00:00Z".parse().unwrap();
        let line = describe(&findings[1], &stored, now);
        assert_eq!(
            line,
            "OpenClaw (b, models.providers.kimi.apiKey) uses kimi-main: the OLD key, rotated 2 days ago. \
             Give it the new key, or better point it at Redline: `redline connect openclaw kimi-main`"
        );
        let json = serde_json::to_string(&findings).unwrap();
        assert!(!json.contains("OldKey") && !json.contains("NewKey") && !json.contains("rl_0123"));
    }

    #[test]
    fn providers_are_guessed_from_url_variable_prefix_or_tool() {
        let key = secret("abcdefghijklmnopqrstuvwxyz");
        assert_eq!(
            guess_provider(
                Some("https://api.kimi.com/coding/v1"),
                None,
                &key,
                "Kimi CLI"
            ),
            Some(ProviderId::KimiCode)
        );
        assert_eq!(
            guess_provider(
                Some("https://api.moonshot.ai/v1"),
                Some("OPENAI_API_KEY"),
                &key,
                "Shell"
            ),
            Some(ProviderId::Moonshot)
        );
        assert_eq!(
            guess_provider(None, Some("OPENAI_API_KEY"), &key, "Shell"),
            Some(ProviderId::Openai)
        );
        assert_eq!(
            guess_provider(
                None,
                Some("ANTHROPIC_AUTH_TOKEN"),
                &secret("sk-ant-oat01-abcdefghijklmnop"),
                "Claude Code"
            ),
            Some(ProviderId::Claude)
        );
        assert_eq!(
            guess_provider(None, None, &key, "Codex"),
            Some(ProviderId::Openai)
        );
        assert_eq!(guess_provider(None, None, &key, "OpenClaw"), None);
        assert_eq!(
            guess_provider(
                Some("http://127.0.0.1:4290/kimi-main"),
                None,
                &key,
                "OpenClaw"
            ),
            None
        );
    }

    #[test]
    fn references_and_non_key_fields_are_not_keys() {
        let tree: Value = serde_json::json!({
            "env": {"ANTHROPIC_API_KEY": "${ANTHROPIC_API_KEY}", "ANTHROPIC_AUTH_TOKEN": "sk-ant-realtokenabcdefgh",
                    "ANTHROPIC_BASE_URL": "https://api.anthropic.com", "DISABLE_TELEMETRY": "1"},
            "gateway": {"auth": {"token": "not-an-llm-key-abcdefgh"}},
            "models": [{"apiKey": "sk-in-an-array-abcdefgh", "baseUrl": "https://api.z.ai/api/anthropic"}],
        });
        let mut found = Vec::new();
        walk(&tree, "", &mut found);
        let fields: Vec<(&str, Option<&str>)> = found
            .iter()
            .map(|(field, _, base, _)| (field.as_str(), base.as_deref()))
            .collect();
        assert_eq!(
            fields,
            [
                (
                    "env.ANTHROPIC_AUTH_TOKEN",
                    Some("https://api.anthropic.com")
                ),
                ("models[0].apiKey", Some("https://api.z.ai/api/anthropic")),
            ]
        );
    }

    #[test]
    fn ages_read_naturally() {
        let now: Timestamp = "2026-11-29T12:00:00Z".parse().unwrap();
        let at = |s: &str| -> Timestamp { s.parse().unwrap() };
        assert_eq!(ago(at("2026-11-29T11:59:30Z"), now), "just now");
        assert_eq!(ago(at("2026-11-29T11:59:00Z"), now), "1 minute ago");
        assert_eq!(ago(at("2026-11-29T09:00:00Z"), now), "3 hours ago");
        assert_eq!(ago(at("2026-11-27T12:00:00Z"), now), "2 days ago");
    }
}
