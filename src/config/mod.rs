//! Configuration: this file is `config.toml` itself; beside it `settings` (what
//! `redline config set` may change), `restart` (which settings wait for a restart, and how to
//! restart) and `paths` (where Redline keeps its files).
//!
//! The config file: accounts (never their secrets) and settings, as human-readable TOML.
//!
//! Every change goes through [`ConfigFile::update`]: take the lock, read and validate the file,
//! edit the document in place with `toml_edit` (so the user's comments and layout survive),
//! validate the result, and replace the file atomically. A file that does not validate is never
//! overwritten.

pub mod paths;
#[cfg(test)]
mod props;
pub mod restart;
pub mod settings;

use crate::error::Error;
use crate::keys::account_id::AccountId;
use crate::keys::secret::redact_keys;
use crate::providers::ProviderId;
use jiff::Timestamp;
use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize};
use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use toml_edit::{DocumentMut, Item, Table};

/// The file written the first time anything is saved. `Config::default()` equals its contents
/// (a unit test holds them together).
pub const TEMPLATE: &str = r#"# Redline configuration. Edit it by hand or with `redline config set KEY VALUE`.
# API keys live in the OS keyring, never in this file.

[thresholds]
# Percent of a quota window used at which the status turns amber (warn) and red (critical).
warn = 80
critical = 95

[poll]
# Seconds between usage polls of each account (15 at the least).
interval_s = 60

[proxy]
# The local proxy, JSON API and dashboard listen here. Loopback only, unless --allow-remote.
listen = "127.0.0.1:4290"
# How long a request may wait in Redline's queue when an account's concurrency_cap is reached.
queue_max_wait_s = 60
# Most requests waiting in that queue per account; more are refused at once (0 = never wait).
queue_max_len = 512
# Retry a provider's 429 before the tool sees it. Off: tools retry too, so retries multiply.
retry_429 = false
# Seconds before giving up: connecting to a provider, waiting for the first byte of its answer
# (a model may think for minutes), and waiting for more of an answer that stopped coming.
connect_timeout_s = 10
first_byte_timeout_s = 300
idle_timeout_s = 120
# Connections to this port: seconds a client may take to send a request's headers, seconds an
# idle connection is kept open for its next request, and the most open at once (beyond it the
# longest idle ones are closed; /healthz and the dashboard keep a few places of their own).
header_timeout_s = 10
keep_alive_s = 75
max_connections = 1024

[notifications]
enabled = true
# Remind me to rotate a key older than this many days (0 = never).
rotation_reminder_days = 90

[history]
# Days of usage, throttles and requests kept in the history database (1 to 3650).
retention_days = 30
"#;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub thresholds: Thresholds,
    pub poll: Poll,
    pub proxy: Proxy,
    pub notifications: Notifications,
    pub history: History,
    pub shared: Shared,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub accounts: BTreeMap<AccountId, Account>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            thresholds: Thresholds {
                warn: 80,
                critical: 95,
            },
            poll: Poll { interval_s: 60 },
            proxy: Proxy {
                listen: SocketAddr::from(([127, 0, 0, 1], 4290)),
                queue_max_wait_s: default_queue_wait(),
                queue_max_len: default_queue_len(),
                retry_429: false,
                connect_timeout_s: default_connect_timeout(),
                first_byte_timeout_s: default_first_byte_timeout(),
                idle_timeout_s: default_idle_timeout(),
                header_timeout_s: default_header_timeout(),
                keep_alive_s: default_keep_alive(),
                max_connections: default_max_connections(),
            },
            notifications: Notifications {
                enabled: true,
                rotation_reminder_days: 90,
            },
            history: History {
                retention_days: default_retention_days(),
            },
            shared: Shared::default(),
            accounts: BTreeMap::new(),
        }
    }
}

/// Percent of a window used. `warn` must stay below `critical`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, try_from = "ThresholdsFields")]
pub struct Thresholds {
    pub warn: u64,
    pub critical: u64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
struct ThresholdsFields {
    #[serde(deserialize_with = "whole_number::<_, 1, 100>")]
    warn: u64,
    #[serde(deserialize_with = "whole_number::<_, 1, 100>")]
    critical: u64,
}

impl Default for ThresholdsFields {
    fn default() -> Self {
        let Thresholds { warn, critical } = Config::default().thresholds;
        ThresholdsFields { warn, critical }
    }
}

impl TryFrom<ThresholdsFields> for Thresholds {
    type Error = String;
    fn try_from(f: ThresholdsFields) -> Result<Self, String> {
        if f.warn >= f.critical {
            return Err(format!(
                "thresholds.warn ({}) must be below thresholds.critical ({})",
                f.warn, f.critical
            ));
        }
        Ok(Thresholds {
            warn: f.warn,
            critical: f.critical,
        })
    }
}

/// Limits shared across machines (`shared/`). Off while `redis_url` is unset.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Shared {
    /// `redis://` or `rediss://`; serialises with its password masked.
    #[serde(
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::shared::url::deserialize_optional"
    )]
    pub redis_url: Option<crate::shared::RedisUrl>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Poll {
    /// Seconds between polls of one account's usage endpoint; never faster than 15 s so the
    /// monitor cannot be what gets the user throttled.
    #[serde(deserialize_with = "whole_number::<_, 15, 86400>")]
    pub interval_s: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Proxy {
    #[serde(deserialize_with = "socket_address")]
    pub listen: SocketAddr,
    /// How long a request may wait in Redline's queue behind an account's concurrency cap.
    #[serde(
        default = "default_queue_wait",
        deserialize_with = "whole_number::<_, 1, 3600>"
    )]
    pub queue_max_wait_s: u64,
    /// Most requests waiting in that queue per account; 0 refuses at once beyond the cap.
    #[serde(
        default = "default_queue_len",
        deserialize_with = "whole_number::<_, 0, 100000>"
    )]
    pub queue_max_len: u64,
    /// Retry a provider's 429 before answering the tool (off: tools retry too, and retries
    /// multiply).
    #[serde(default)]
    pub retry_429: bool,
    /// Giving up on connecting to a provider.
    #[serde(
        default = "default_connect_timeout",
        deserialize_with = "whole_number::<_, 1, 300>"
    )]
    pub connect_timeout_s: u64,
    /// Giving up when not a byte of the answer came; long, as a model may think for minutes.
    #[serde(
        default = "default_first_byte_timeout",
        deserialize_with = "whole_number::<_, 5, 3600>"
    )]
    pub first_byte_timeout_s: u64,
    /// Cutting an answer off when nothing more came for this long.
    #[serde(
        default = "default_idle_timeout",
        deserialize_with = "whole_number::<_, 5, 3600>"
    )]
    pub idle_timeout_s: u64,
    /// Closing a connection whose request headers have not all come within this long (a
    /// client sending them byte by byte holds no place for long).
    #[serde(
        default = "default_header_timeout",
        deserialize_with = "whole_number::<_, 1, 300>"
    )]
    pub header_timeout_s: u64,
    /// Closing a connection that has sent no new request for this long since its last answer.
    #[serde(
        default = "default_keep_alive",
        deserialize_with = "whole_number::<_, 1, 3600>"
    )]
    pub keep_alive_s: u64,
    /// Most connections open at once; beyond it the longest idle one is closed for the new one.
    #[serde(
        default = "default_max_connections",
        deserialize_with = "whole_number::<_, 8, 1000000>"
    )]
    pub max_connections: u64,
}

fn default_queue_wait() -> u64 {
    60
}

fn default_queue_len() -> u64 {
    512
}

fn default_connect_timeout() -> u64 {
    10
}

fn default_first_byte_timeout() -> u64 {
    300
}

fn default_idle_timeout() -> u64 {
    120
}

fn default_header_timeout() -> u64 {
    10
}

fn default_keep_alive() -> u64 {
    75
}

fn default_max_connections() -> u64 {
    1024
}

/// How many requests the proxy lets through at once for one account.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ConcurrencyCap {
    #[default]
    Off,
    Limit(u64),
    /// The provider's own limit once known (Kimi's `parallel.limit`, a Moonshot tier's).
    Auto,
}

impl ConcurrencyCap {
    /// The cap to enforce, given the provider's limit if known; 0 = none.
    pub fn resolve(self, provider_limit: Option<u64>) -> u64 {
        match self {
            ConcurrencyCap::Off => 0,
            ConcurrencyCap::Limit(n) => n,
            ConcurrencyCap::Auto => provider_limit.unwrap_or(0),
        }
    }
}

impl Serialize for ConcurrencyCap {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            ConcurrencyCap::Off => serializer.serialize_u64(0),
            ConcurrencyCap::Limit(n) => serializer.serialize_u64(*n),
            ConcurrencyCap::Auto => serializer.serialize_str("auto"),
        }
    }
}

impl<'de> Deserialize<'de> for ConcurrencyCap {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        const EXPECTED: &str =
            "a whole number from 0 (no cap) to 100000, or \"auto\" for the provider's own limit";
        impl serde::de::Visitor<'_> for Visitor {
            type Value = ConcurrencyCap;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str(EXPECTED)
            }
            fn visit_i64<E: serde::de::Error>(self, n: i64) -> Result<ConcurrencyCap, E> {
                match n {
                    0 => Ok(ConcurrencyCap::Off),
                    1..=100_000 => Ok(ConcurrencyCap::Limit(n as u64)),
                    _ => Err(E::custom(format!("must be {EXPECTED}, not {n}"))),
                }
            }
            fn visit_u64<E: serde::de::Error>(self, n: u64) -> Result<ConcurrencyCap, E> {
                self.visit_i64(i64::try_from(n).unwrap_or(i64::MAX))
            }
            fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<ConcurrencyCap, E> {
                match text {
                    "auto" => Ok(ConcurrencyCap::Auto),
                    _ => Err(E::custom(format!("must be {EXPECTED}, not {text:?}"))),
                }
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Notifications {
    pub enabled: bool,
    #[serde(deserialize_with = "whole_number::<_, 0, 3650>")]
    pub rotation_reminder_days: u64,
}

/// The history database (`history.sqlite3` in the data directory).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct History {
    /// Days of history kept; older rows are pruned.
    #[serde(
        default = "default_retention_days",
        deserialize_with = "whole_number::<_, 1, 3650>"
    )]
    pub retention_days: u64,
}

fn default_retention_days() -> u64 {
    30
}

/// One stored key. The secret is in the keyring under the account id; this holds what is safe
/// to write down about it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Account {
    pub provider: ProviderId,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "label"
    )]
    pub label: Option<String>,
    /// Replaces the provider's default API base (a region host or a gateway).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "base_url"
    )]
    pub base_url: Option<String>,
    /// Most requests the local proxy lets through at once: 0 = no cap, a number, or "auto"
    /// for the provider's own limit.
    #[serde(default)]
    pub concurrency_cap: ConcurrencyCap,
    /// The account's tier where the provider sets limits by tier (Moonshot Tier0-Tier5).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "tier"
    )]
    pub tier: Option<u64>,
    /// Masked form of the current key, e.g. `sk-…a1b2`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<Timestamp>,
    /// When the current key was put in place by `keys rotate` (or `keys rollback`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rotated_at: Option<Timestamp>,
    /// The rollback copy kept by the last rotation: its fingerprint and since when it was used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_fingerprint: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_since: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_test_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_test_ok: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_test_message: Option<String>,
}

impl Account {
    /// Since when the current key has been in use.
    pub fn key_since(&self) -> Option<Timestamp> {
        self.rotated_at.or(self.created_at)
    }
}

fn whole_number<'de, D: Deserializer<'de>, const MIN: u64, const MAX: u64>(
    deserializer: D,
) -> Result<u64, D::Error> {
    let value = i64::deserialize(deserializer)?;
    u64::try_from(value)
        .ok()
        .filter(|v| (MIN..=MAX).contains(v))
        .ok_or_else(|| {
            D::Error::custom(format!(
                "must be a whole number from {MIN} to {MAX}, not {value}"
            ))
        })
}

fn tier<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<u64>, D::Error> {
    whole_number::<D, 0, 5>(deserializer).map(Some)
}

fn socket_address<'de, D: Deserializer<'de>>(deserializer: D) -> Result<SocketAddr, D::Error> {
    let text = String::deserialize(deserializer)?;
    text.parse().map_err(|_| {
        D::Error::custom(format!(
            "{text:?} is not an address with a port, like \"127.0.0.1:4290\""
        ))
    })
}

/// A label is printed in terminals, menus and notifications: no control characters (escape
/// sequences, line breaks) and no bidirectional overrides that would reorder what is shown.
fn label<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    let text = String::deserialize(deserializer)?;
    match text.chars().find(|c| is_unsafe_text(*c)) {
        Some(c) => Err(D::Error::custom(format!(
            "a label cannot hold the character U+{:04X} (a control or text-direction \
             character); use plain text",
            c as u32
        ))),
        None => Ok(Some(text)),
    }
}

/// Characters that change how a terminal or a line of text shows what follows them.
pub fn is_unsafe_text(c: char) -> bool {
    c.is_control() || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

fn base_url<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    let text = String::deserialize(deserializer)?;
    validate_base_url(&text).map(Some).map_err(D::Error::custom)
}

/// Why Redline will not listen on `addr` without `--allow-remote`: other machines could reach
/// it; `None` for a loopback address.
pub fn remote_listen_refusal(addr: SocketAddr) -> Option<String> {
    (!addr.ip().is_loopback()).then(|| {
        format!(
            "refusing to listen on {addr}: it is not a loopback address, so other machines could \
             use your keys through Redline. Use 127.0.0.1 (to serve other machines on purpose, run \
             `redline daemon --listen {addr} --allow-remote`)"
        )
    })
}

/// An `http(s)://host[/path]` URL without credentials, query or fragment; returned without a
/// trailing slash.
pub fn validate_base_url(text: &str) -> Result<String, String> {
    let bad =
        |why: &str| format!("base URL {text:?} {why}; use e.g. \"https://api.moonshot.cn/v1\"");
    let url = url::Url::parse(text).map_err(|e| bad(&format!("is not a URL ({e})")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(bad("must start with https:// or http://"));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(bad("has no host"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(bad("must not contain a user name or password"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(bad("must not have a query or fragment"));
    }
    // The key travels with every request: in clear text only to this machine.
    let host = url.host_str().unwrap_or_default();
    if url.scheme() == "http" && !crate::keys::destination::is_loopback_host(host) {
        return Err(bad(
            "must use https:// (plain http is allowed only to this machine, such as http://127.0.0.1:PORT)",
        ));
    }
    Ok(url.as_str().trim_end_matches('/').to_owned())
}

/// A config text that does not validate: where and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    /// 1-based line of the offending value, when known.
    pub line: Option<usize>,
    /// That line, trimmed, for the error message.
    pub source_line: Option<String>,
    pub message: String,
}

impl Config {
    /// Parses and validates a config text.
    pub fn parse(text: &str) -> Result<Config, Invalid> {
        toml::from_str(text).map_err(|err| {
            let line = err
                .span()
                .map(|span| text[..span.start].matches('\n').count() + 1);
            // Keys are masked before the line is cut: a key cut in two would leave a part
            // too short to be recognised as one.
            let source_line = line.and_then(|n| text.lines().nth(n - 1)).map(|l| {
                let masked = crate::shared::url::mask(&redact_keys(l.trim()));
                masked.chars().take(80).collect()
            });
            Invalid {
                line,
                source_line,
                message: err.message().trim().to_owned(),
            }
        })
    }

    pub fn account(&self, id: &AccountId) -> Result<&Account, Error> {
        self.accounts
            .get(id)
            .ok_or_else(|| Error::NoSuchAccount(id.to_string()))
    }
}

/// The config file on disk.
#[derive(Clone, Debug)]
pub struct ConfigFile {
    path: PathBuf,
}

impl ConfigFile {
    pub fn new(path: PathBuf) -> ConfigFile {
        ConfigFile { path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The validated config; defaults when the file does not exist yet.
    pub fn load(&self) -> Result<Config, Error> {
        let text = self.read_text()?;
        self.parse_file(&text)
    }

    /// Runs `change` on the current config and its editable document while holding the config
    /// lock, then saves the edited document if `change` succeeded and the result validates.
    /// Work that must agree with the file (keyring writes) belongs inside `change`.
    pub fn update<T>(
        &self,
        change: impl FnOnce(&Config, &mut ConfigEdit) -> Result<T, Error>,
    ) -> Result<T, Error> {
        self.update_or_undo(change, || {})
    }

    /// [`ConfigFile::update`], and when `change` succeeded but its result cannot be saved (an
    /// invalid result, a full disk), `undo` runs while the lock is still held, so what `change`
    /// did outside the file (keyring writes) can be taken back before anyone else looks.
    pub fn update_or_undo<T>(
        &self,
        change: impl FnOnce(&Config, &mut ConfigEdit) -> Result<T, Error>,
        undo: impl FnOnce(),
    ) -> Result<T, Error> {
        let _lock = self.lock()?;
        let text = self.read_text()?;
        let config = self.parse_file(&text)?;
        let doc: DocumentMut =
            text.parse()
                .map_err(|e: toml_edit::TomlError| Error::ConfigInvalid {
                    path: self.path.clone(),
                    line: None,
                    message: e.message().to_owned(),
                })?;
        let mut edit = ConfigEdit { doc };
        let result = change(&config, &mut edit)?;
        let new_text = edit.doc.to_string();
        if new_text != text {
            let saved = Config::parse(&new_text)
                .map_err(|invalid| Error::InvalidChange(invalid.message))
                .and_then(|_| {
                    write_atomically(&self.path, &new_text).map_err(|source| Error::ConfigWrite {
                        path: self.path.clone(),
                        source,
                    })
                });
            if let Err(err) = saved {
                undo();
                return Err(err);
            }
        }
        Ok(result)
    }

    /// The file is gone or holds nothing but blanks: more likely a failed write or an editor
    /// accident than a wish to drop every account.
    pub fn is_empty_or_missing(&self) -> bool {
        match fs::read_to_string(&self.path) {
            Ok(text) => text.trim().is_empty(),
            Err(e) => e.kind() == io::ErrorKind::NotFound,
        }
    }

    fn read_text(&self) -> Result<String, Error> {
        self.refuse_a_link_elsewhere()?;
        match fs::read_to_string(&self.path) {
            Ok(text) => Ok(text),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(TEMPLATE.to_owned()),
            Err(source) => Err(Error::ConfigRead {
                path: self.path.clone(),
                source,
            }),
        }
    }

    /// A config.toml that links to a file outside Redline's directory is refused: its lines
    /// would be quoted in Redline's messages, and it may be any file at all.
    fn refuse_a_link_elsewhere(&self) -> Result<(), Error> {
        let is_link = fs::symlink_metadata(&self.path).is_ok_and(|m| m.file_type().is_symlink());
        if !is_link {
            return Ok(());
        }
        let dir = self.path.parent().map(fs::canonicalize);
        match (dir, fs::canonicalize(&self.path)) {
            (Some(Ok(dir)), Ok(target)) if target.starts_with(&dir) => Ok(()),
            (_, Ok(target)) => Err(Error::ConfigInvalid {
                path: self.path.clone(),
                line: None,
                message: format!(
                    "it links to {}, outside Redline's directory; Redline reads only a file of \
                     its own there. Replace the link with a copy of the file",
                    target.display()
                ),
            }),
            // A link to nothing reads as a missing file.
            (_, Err(_)) => Ok(()),
        }
    }

    fn parse_file(&self, text: &str) -> Result<Config, Error> {
        Config::parse(text).map_err(|invalid| Error::ConfigInvalid {
            path: self.path.clone(),
            line: invalid.line,
            // The line is quoted to show what is wrong, but a key pasted there (`key = sk-…`)
            // must not reach the journal.
            message: redact_keys(&match invalid.source_line {
                Some(source) if !source.is_empty() => format!("`{source}`: {}", invalid.message),
                _ => invalid.message,
            }),
        })
    }

    /// An exclusive lock on a file beside the config, so the CLI, the daemon and the desktop
    /// app never interleave read-modify-write cycles. Released when dropped.
    fn lock(&self) -> Result<File, Error> {
        let lock_path = self.path.with_extension("lock");
        let io_error = |source| Error::ConfigWrite {
            path: lock_path.clone(),
            source,
        };
        create_private_dir(self.path.parent().unwrap_or(Path::new("."))).map_err(io_error)?;
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(io_error)?;
        file.lock().map_err(io_error)?;
        Ok(file)
    }
}

/// The editable document handed to [`ConfigFile::update`].
pub struct ConfigEdit {
    doc: DocumentMut,
}

impl ConfigEdit {
    /// Inserts or updates an account's table, touching only the fields that changed so the
    /// user's comments on the others stay.
    pub fn put_account(&mut self, id: &AccountId, account: &Account) -> Result<(), Error> {
        let text = toml::to_string(account).map_err(|e| Error::InvalidChange(e.to_string()))?;
        let new: DocumentMut = text
            .parse()
            .map_err(|e: toml_edit::TomlError| Error::InvalidChange(e.to_string()))?;
        let accounts = self.accounts_table();
        match accounts.get_mut(id.as_str()).and_then(Item::as_table_mut) {
            Some(existing) => merge_fields(existing, new.as_table()),
            None => {
                accounts.insert(id.as_str(), Item::Table(new.as_table().clone()));
            }
        }
        Ok(())
    }

    pub fn remove_account(&mut self, id: &AccountId) {
        self.accounts_table().remove(id.as_str());
    }

    /// Sets one dotted key (`thresholds.warn`, `accounts.kimi-main.label`) to an already typed
    /// value; an empty string removes an optional text field.
    pub fn set(&mut self, path: &[&str], value: toml_edit::Value) {
        let (field, tables) = path.split_last().expect("a setting path is never empty");
        let mut table = self.doc.as_table_mut();
        for name in tables {
            table = table
                .entry(name)
                .or_insert_with(|| {
                    let mut t = Table::new();
                    t.set_implicit(true);
                    Item::Table(t)
                })
                .as_table_mut()
                .expect("setting paths only cross tables");
        }
        if value.as_str() == Some("") {
            table.remove(field);
        } else if let Some(Item::Value(old)) = table.get_mut(field) {
            // In place: the comment above the key (kept with the key) and the one after the
            // value stay.
            let mut value = value;
            *value.decor_mut() = old.decor().clone();
            *old = value;
        } else {
            table.insert(field, Item::Value(value));
        }
    }

    fn accounts_table(&mut self) -> &mut Table {
        let item = self.doc.entry("accounts").or_insert_with(|| {
            let mut table = Table::new();
            table.set_implicit(true);
            Item::Table(table)
        });
        item.as_table_mut()
            .expect("validated config has an [accounts] table")
    }
}

fn merge_fields(existing: &mut Table, new: &Table) {
    let gone: Vec<String> = existing
        .iter()
        .map(|(k, _)| k.to_owned())
        .filter(|k| !new.contains_key(k))
        .collect();
    for key in gone {
        existing.remove(&key);
    }
    for (key, value) in new.iter() {
        match (
            existing.get_mut(key).and_then(Item::as_value_mut),
            value.as_value(),
        ) {
            (Some(old), Some(new)) => {
                if bare(old) != bare(new) {
                    // Keep the user's spacing and trailing comment around the new value.
                    let decor = old.decor().clone();
                    *old = new.clone();
                    *old.decor_mut() = decor;
                }
            }
            _ => {
                existing.insert(key, value.clone());
            }
        }
    }
}

/// A value's text without surrounding whitespace or comments.
fn bare(value: &toml_edit::Value) -> String {
    let mut value = value.clone();
    value.decor_mut().clear();
    value.to_string()
}

/// Writes `text` to a temp file beside `path`, syncs it and renames it over `path`, so a crash
/// leaves either the old file or the new one, never half of each.
pub fn write_atomically(path: &Path, text: &str) -> io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    create_private_dir(dir)?;
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let result = (|| {
        let mut options = OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(&tmp)?;
        file.write_all(text.as_bytes())?;
        file.sync_all()?;
        fs::rename(&tmp, path)?;
        #[cfg(unix)]
        File::open(dir)?.sync_all()?;
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

pub(crate) fn create_private_dir(dir: &Path) -> io::Result<()> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_setting_changed_keeps_the_comment_above_it() {
        // Found by config/props.rs: `config set` replaced the key with the value, and the
        // comment above it went with the key.
        let dir = tempfile::tempdir().unwrap();
        let file = ConfigFile::new(dir.path().join("config.toml"));
        settings::set(&file, "proxy.retry_429", "yes").unwrap();
        settings::set(&file, "thresholds.warn", "50").unwrap();
        let text = std::fs::read_to_string(file.path()).unwrap();
        assert_eq!(
            text,
            TEMPLATE
                .replace("retry_429 = false", "retry_429 = true")
                .replace("warn = 80", "warn = 50")
        );
    }

    #[test]
    fn a_key_across_the_cut_of_a_quoted_line_is_masked_whole() {
        // Found by config/props.rs: the line was cut to 80 characters before keys were masked.
        let key = "sk-aA07xesRThHT8S7b6D4Hifs2";
        let text = format!("{} warn = {key}\n", "y k ur".repeat(9));
        let invalid = Config::parse(&text).unwrap_err();
        let line = invalid.source_line.unwrap();
        assert!(!line.contains("sk-aA07xes"), "{line}");
    }

    #[test]
    fn template_is_the_default_config() {
        assert_eq!(Config::parse(TEMPLATE).unwrap(), Config::default());
        assert_eq!(Config::parse("").unwrap(), Config::default());
    }

    #[test]
    fn a_key_on_a_broken_line_is_not_repeated_in_the_error() {
        let dir = tempfile::tempdir().unwrap();
        let file = ConfigFile::new(dir.path().join("config.toml"));
        fs::write(
            file.path(),
            "[accounts.kimi]\nprovider = \"kimi-code\"\nkey = sk-kimi-PastedKeyAbcdefghij4242\n",
        )
        .unwrap();
        let err = file.load().unwrap_err().to_string();
        assert!(err.contains("line 3"), "{err}");
        assert!(!err.contains("PastedKey"), "{err}");
    }

    #[test]
    fn a_config_linking_outside_redlines_directory_is_refused() {
        let (home, elsewhere) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let outside = elsewhere.path().join("secrets.toml");
        fs::write(&outside, "[thresholds]\nwarn = 70\n").unwrap();
        let file = ConfigFile::new(home.path().join("config.toml"));
        std::os::unix::fs::symlink(&outside, file.path()).unwrap();
        let err = file.load().unwrap_err().to_string();
        assert!(err.contains("outside Redline's directory"), "{err}");
        // A link inside its own directory is fine.
        let inside = home.path().join("config.real.toml");
        fs::write(&inside, "[thresholds]\nwarn = 70\n").unwrap();
        fs::remove_file(file.path()).unwrap();
        std::os::unix::fs::symlink(&inside, file.path()).unwrap();
        assert_eq!(file.load().unwrap().thresholds.warn, 70);
    }

    #[test]
    fn errors_name_the_line_and_the_problem() {
        let text = "[thresholds]\nwarn = 80\ncritical = 200\n";
        let err = Config::parse(text).unwrap_err();
        assert_eq!(err.line, Some(3));
        assert_eq!(err.source_line.as_deref(), Some("critical = 200"));
        assert!(
            err.message.contains("from 1 to 100, not 200"),
            "{}",
            err.message
        );

        let err = Config::parse("[poll]\ninterval_s = 5\n").unwrap_err();
        assert_eq!(err.line, Some(2));
        assert!(err.message.contains("from 15 to 86400"), "{}", err.message);

        let err = Config::parse("[proxy]\nlisten = \"localhost\"\n").unwrap_err();
        assert_eq!(err.line, Some(2));
        assert!(
            err.message.contains("address with a port"),
            "{}",
            err.message
        );

        let err = Config::parse("[thresholds]\nwarn = 90\ncritical = 85\n").unwrap_err();
        assert!(err.message.contains("must be below"), "{}", err.message);

        let err = Config::parse("[poll]\ninterval = 60\n").unwrap_err();
        assert!(err.message.contains("unknown field"), "{}", err.message);

        let err = Config::parse("[thresholds\nwarn = 1").unwrap_err();
        assert_eq!(err.line, Some(1));
    }

    #[test]
    fn accounts_are_validated() {
        let err = Config::parse("[accounts.Bad_Id]\nprovider = \"openai\"\n").unwrap_err();
        assert!(
            err.message.contains("invalid account id"),
            "{}",
            err.message
        );
        assert_eq!(err.line, Some(1));

        let err = Config::parse("[accounts.a]\nprovider = \"kimi\"\n").unwrap_err();
        assert!(err.message.contains("kimi-code"), "{}", err.message);
        assert_eq!(err.line, Some(2));

        let err = Config::parse("[accounts.a]\nprovider = \"openai\"\nbase_url = \"ftp://x\"\n")
            .unwrap_err();
        assert_eq!(err.line, Some(3));
        assert!(err.message.contains("https://"), "{}", err.message);

        let ok = Config::parse(
            "[accounts.kimi-main]\nprovider = \"kimi-code\"\nbase_url = \"https://api.kimi.com/coding/v1/\"\nextra_ignored_never = 1\n",
        );
        assert!(ok.is_err(), "unknown account fields are refused");
    }

    #[test]
    fn concurrency_caps_are_numbers_or_auto() {
        let cap = |value: &str| {
            Config::parse(&format!(
                "[accounts.a]\nprovider = \"kimi-code\"\nconcurrency_cap = {value}\n"
            ))
            .map(|c| c.accounts.values().next().unwrap().concurrency_cap)
        };
        assert_eq!(cap("0").unwrap(), ConcurrencyCap::Off);
        assert_eq!(cap("30").unwrap(), ConcurrencyCap::Limit(30));
        assert_eq!(cap("\"auto\"").unwrap(), ConcurrencyCap::Auto);
        let err = cap("\"lots\"").unwrap_err();
        assert!(err.message.contains("or \"auto\""), "{}", err.message);
        assert_eq!(err.line, Some(3));
        assert!(cap("-1").is_err());
        assert_eq!(ConcurrencyCap::Auto.resolve(Some(30)), 30);
        assert_eq!(ConcurrencyCap::Auto.resolve(None), 0);
        assert_eq!(ConcurrencyCap::Limit(5).resolve(Some(30)), 5);
    }

    #[test]
    fn base_urls_are_normalised() {
        assert_eq!(
            validate_base_url("https://api.moonshot.cn/v1/").unwrap(),
            "https://api.moonshot.cn/v1"
        );
        assert!(validate_base_url("https://user:pw@host/").is_err());
        assert!(validate_base_url("https://host/?a=1").is_err());
        assert!(validate_base_url("api.openai.com").is_err());
        let clear = validate_base_url("http://gateway.example/v1").unwrap_err();
        assert!(clear.contains("must use https://"), "{clear}");
        for local in [
            "http://127.0.0.1:4301/v1",
            "http://localhost:8080",
            "http://[::1]:9000",
        ] {
            assert!(validate_base_url(local).is_ok(), "{local}");
        }
    }

    #[test]
    fn update_keeps_comments_and_writes_atomically() {
        let dir = tempfile::tempdir().unwrap();
        let file = ConfigFile::new(dir.path().join("config.toml"));
        let id: AccountId = "kimi-main".parse().unwrap();
        let account = Account {
            provider: ProviderId::KimiCode,
            label: Some("Kimi".into()),
            base_url: None,
            concurrency_cap: ConcurrencyCap::Off,
            tier: None,
            fingerprint: Some("sk-…a1b2".into()),
            created_at: Some("2026-11-01T00:00:00Z".parse().unwrap()),
            rotated_at: None,
            previous_fingerprint: None,
            previous_since: None,
            last_test_at: None,
            last_test_ok: None,
            last_test_message: None,
        };
        file.update(|_, edit| edit.put_account(&id, &account))
            .unwrap();
        let text = fs::read_to_string(file.path()).unwrap();
        assert!(text.starts_with("# Redline configuration."), "{text}");
        assert!(text.contains("[accounts.kimi-main]"), "{text}");
        assert_eq!(file.load().unwrap().accounts[&id], account);

        // A user's comment inside the account survives an update of another field.
        fs::write(
            file.path(),
            text.replace("label = \"Kimi\"", "label = \"Kimi\" # mine"),
        )
        .unwrap();
        let mut changed = account.clone();
        changed.concurrency_cap = ConcurrencyCap::Limit(30);
        file.update(|_, edit| edit.put_account(&id, &changed))
            .unwrap();
        let text = fs::read_to_string(file.path()).unwrap();
        assert!(text.contains("label = \"Kimi\" # mine"), "{text}");
        assert_eq!(
            file.load().unwrap().accounts[&id].concurrency_cap,
            ConcurrencyCap::Limit(30)
        );
        let leftovers: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.contains(".tmp-"))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }

    #[test]
    fn an_invalid_file_is_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let file = ConfigFile::new(dir.path().join("config.toml"));
        let corrupt = "[thresholds]\nwarn = \"high\"\n";
        fs::write(file.path(), corrupt).unwrap();
        let err = file.update(|_, edit| {
            edit.set(&["poll", "interval_s"], 30.into());
            Ok(())
        });
        let message = err.unwrap_err().to_string();
        assert!(message.contains("line 2"), "{message}");
        assert_eq!(fs::read_to_string(file.path()).unwrap(), corrupt);
    }

    #[test]
    fn an_edit_that_would_not_validate_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let file = ConfigFile::new(dir.path().join("config.toml"));
        let err = file
            .update(|_, edit| {
                edit.set(&["thresholds", "warn"], 99.into());
                Ok(())
            })
            .unwrap_err();
        assert!(err.to_string().contains("must be below"), "{err}");
        assert!(!file.path().exists());
    }
}
