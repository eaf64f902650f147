//! Redline's own credentials, kept in the OS keyring beside the API keys
//! (`docs/architecture.md` "Tokens and who may call what"):
//!
//! - **Tool tokens** (`rl_` and 64 hex digits) are what tools present to the local proxy instead
//!   of a real key. They open the proxy routes (`/<account-id>/...`) and nothing else. There is
//!   one per tool name: `default` (what `redline token` prints) is the single local token of
//!   earlier versions, still in its old keyring entry so tools set up then keep working; the
//!   named ones (`redline token --tool codex`) share one entry.
//! - The **admin credential** (`rl_admin_` and 64 hex digits) opens the JSON API, /metrics and
//!   the dashboard. It is made on first need and never printed by `redline env` or written into
//!   a tool's files.
//!
//! Every change is made under an exclusive file lock in Redline's data directory, re-reading
//! the keyring under it, so that ten `redline token` started at once on an empty keyring all
//! print the same token. After a change the stamp file beside the lock gets a new value: a
//! running engine sees it and re-reads the keyring (`keys/credentials.rs`).

use crate::config::create_private_dir;
use crate::config::paths::Paths;
use crate::error::Error;
use crate::keys::secret::Secret;
use crate::keys::stand_in;
use crate::keys::vault::{Slot, Vault};
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt;
use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// Tool tokens look like `rl_` and 64 hex digits, so they are easy to recognise in a tool's
/// config. Every credential Redline makes starts with it.
pub const TOKEN_PREFIX: &str = "rl_";
/// The admin credential's prefix: whoever finds it in a file can tell it is not a tool token.
pub const ADMIN_PREFIX: &str = "rl_admin_";
/// The tool token `redline token` prints, and the one tools set up before named tokens hold.
pub const DEFAULT_TOOL: &str = "default";
/// Most named tool tokens (they share one keyring entry of at most 8 KiB).
pub const MAX_TOOL_TOKENS: usize = 64;

const LOCK_FILE: &str = "tokens.lock";
/// Rewritten after every change; its content is random and no secret.
pub const STAMP_FILE: &str = "tokens.changed";

/// A tool token's name: 1 to 32 lowercase letters, digits and `-`, not starting or ending
/// with `-` (`codex`, `claude-code`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ToolName(String);

impl ToolName {
    pub fn default_tool() -> ToolName {
        ToolName(DEFAULT_TOOL.to_owned())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    fn is_default(&self) -> bool {
        self.0 == DEFAULT_TOOL
    }
}

impl fmt::Display for ToolName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error(
    "invalid tool name {0:?}: use 1 to 32 lowercase letters, digits and '-', such as codex or claude-code"
)]
pub struct InvalidToolName(String);

impl FromStr for ToolName {
    type Err = InvalidToolName;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        let valid = (1..=32).contains(&name.len())
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !name.starts_with('-')
            && !name.ends_with('-');
        if valid {
            Ok(ToolName(name.to_owned()))
        } else {
            Err(InvalidToolName(name.chars().take(40).collect()))
        }
    }
}

/// What may be shown about a tool token: its name and masked fingerprint.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TokenInfo {
    pub tool: String,
    pub fingerprint: String,
}

/// Redline's credentials in the keyring, and the lock and stamp files that go with them.
/// Every method blocks (keyring calls, a file lock).
#[derive(Clone, Debug)]
pub struct TokenStore {
    vault: Vault,
    dir: PathBuf,
    /// Where an engine running without its keyring keeps its stand-in admin credential
    /// (`keys/stand_in.rs`); `None`: there is none to look for.
    stand_in: Option<PathBuf>,
}

impl TokenStore {
    /// Credentials in `vault`; the lock and stamp files in `dir`.
    pub fn new(vault: Vault, dir: &Path) -> TokenStore {
        TokenStore {
            vault,
            dir: dir.to_path_buf(),
            stand_in: None,
        }
    }

    /// This install's: the OS keyring, files in the data directory, a running engine's
    /// stand-in admin credential in the runtime directory.
    pub fn from_paths(paths: &Paths) -> TokenStore {
        TokenStore {
            stand_in: Some(paths.runtime_dir().join(stand_in::FILE_NAME)),
            ..TokenStore::new(Vault::from_env(), paths.data_dir())
        }
    }

    /// Where a running engine without its keyring puts its stand-in admin credential.
    pub fn stand_in_path(&self) -> Option<&Path> {
        self.stand_in.as_deref()
    }

    pub fn vault(&self) -> &Vault {
        &self.vault
    }

    /// The tool's token, made under the lock when it has none.
    pub fn tool_token(&self, tool: &ToolName) -> Result<Secret, Error> {
        if let Some(token) = self.read_tool(tool)? {
            return Ok(token);
        }
        self.locked(|| {
            // Another process may have made it while this one waited for the lock.
            if let Some(token) = self.read_tool(tool)? {
                return Ok(token);
            }
            let token = generate_token();
            self.write_tool(tool, Some(&token))?;
            Ok(token)
        })
    }

    /// The default tool token (`redline token`), made when there is none.
    pub fn default_tool_token(&self) -> Result<Secret, Error> {
        self.tool_token(&ToolName::default_tool())
    }

    /// Replaces the tool's token with a new one (made when it had none); tools holding the old
    /// one are refused from then on, the other tools' tokens keep working.
    pub fn rotate_tool_token(&self, tool: &ToolName) -> Result<Secret, Error> {
        self.locked(|| {
            let token = generate_token();
            self.write_tool(tool, Some(&token))?;
            Ok(token)
        })
    }

    /// Removes the tool's token; `false` when it had none. The other tools' tokens stay.
    pub fn revoke_tool_token(&self, tool: &ToolName) -> Result<bool, Error> {
        self.locked(|| {
            let had = self.read_tool(tool)?.is_some();
            if had {
                self.write_tool(tool, None)?;
            }
            Ok(had)
        })
    }

    /// Every tool token, by name (never makes one).
    pub fn tool_tokens(&self) -> Result<BTreeMap<ToolName, Secret>, Error> {
        let mut all = self.read_named()?;
        if let Some(token) = self.vault.get(&Slot::LocalToken)? {
            all.insert(ToolName::default_tool(), token);
        }
        Ok(all)
    }

    /// The tool tokens' names and fingerprints, sorted by name.
    pub fn list(&self) -> Result<Vec<TokenInfo>, Error> {
        Ok(self
            .tool_tokens()?
            .iter()
            .map(|(tool, token)| TokenInfo {
                tool: tool.to_string(),
                fingerprint: token.fingerprint(),
            })
            .collect())
    }

    /// The admin credential, made under the lock on first need. While the keyring is locked
    /// or not running, the stand-in credential of the engine running without it, if there is
    /// one (`keys/stand_in.rs`): what reaches that engine.
    pub fn admin(&self) -> Result<Secret, Error> {
        match self.admin_in_keyring() {
            Err(Error::Keyring(err)) if err.is_keyring_down() => {
                self.stand_in().ok_or(Error::Keyring(err))
            }
            other => other,
        }
    }

    /// The admin credential if one was made; while the keyring is down, the running engine's
    /// stand-in, as [`TokenStore::admin`].
    pub fn read_admin(&self) -> Result<Option<Secret>, Error> {
        match self.read_admin_in_keyring() {
            Err(Error::Keyring(err)) if err.is_keyring_down() => {
                self.stand_in().map(Some).ok_or(Error::Keyring(err))
            }
            // A locked collection hides its entries: none may only mean "not readable now".
            Ok(None) => Ok(self.stand_in()),
            other => other,
        }
    }

    fn stand_in(&self) -> Option<Secret> {
        self.stand_in.as_deref().and_then(stand_in::read)
    }

    /// The admin credential in the keyring, made under the lock on first need: the engine's,
    /// which never takes a stand-in for it.
    pub(crate) fn admin_in_keyring(&self) -> Result<Secret, Error> {
        if let Some(admin) = self.read_admin_in_keyring()? {
            return Ok(admin);
        }
        self.locked(|| {
            if let Some(admin) = self.read_admin_in_keyring()? {
                return Ok(admin);
            }
            let admin = generate_admin();
            self.vault.set(&Slot::Admin, &admin)?;
            Ok(admin)
        })
    }

    /// The admin credential in the keyring if one was made.
    pub(crate) fn read_admin_in_keyring(&self) -> Result<Option<Secret>, Error> {
        Ok(self.vault.get(&Slot::Admin)?)
    }

    /// Replaces the admin credential. A running engine then refuses the old one and ends the
    /// dashboard sessions and sign-in codes made with it; the desktop app's open window signs
    /// in again when it is reopened.
    pub fn rotate_admin(&self) -> Result<Secret, Error> {
        self.locked(|| {
            let admin = generate_admin();
            self.vault.set(&Slot::Admin, &admin)?;
            Ok(admin)
        })
    }

    /// The stamp's current value (`None` before the first change).
    pub fn stamp(&self) -> Option<String> {
        std::fs::read_to_string(self.dir.join(STAMP_FILE)).ok()
    }

    fn read_tool(&self, tool: &ToolName) -> Result<Option<Secret>, Error> {
        if tool.is_default() {
            return Ok(self.vault.get(&Slot::LocalToken)?);
        }
        Ok(self.read_named()?.remove(tool))
    }

    /// Sets (`Some`) or removes (`None`) one tool's token. Only under the lock.
    fn write_tool(&self, tool: &ToolName, token: Option<&Secret>) -> Result<(), Error> {
        if tool.is_default() {
            match token {
                Some(token) => self.vault.set(&Slot::LocalToken, token)?,
                None => {
                    self.vault.delete(&Slot::LocalToken)?;
                }
            }
            return Ok(());
        }
        let mut named = self.read_named()?;
        match token {
            Some(token) => {
                if !named.contains_key(tool) && named.len() >= MAX_TOOL_TOKENS {
                    return Err(Error::Environment(format!(
                        "there are already {MAX_TOOL_TOKENS} named tool tokens: revoke the ones no tool uses (`redline token --list`, `redline token --revoke NAME`), then try again"
                    )));
                }
                named.insert(tool.clone(), token.clone());
            }
            None => {
                named.remove(tool);
            }
        }
        if named.is_empty() {
            self.vault.delete(&Slot::ToolTokens)?;
        } else {
            self.vault.set(&Slot::ToolTokens, &encode(&named))?;
        }
        Ok(())
    }

    fn read_named(&self) -> Result<BTreeMap<ToolName, Secret>, Error> {
        named_tokens(&self.vault)
    }

    /// Runs `work` holding the exclusive token lock, then rewrites the stamp so running
    /// engines re-read the keyring.
    fn locked<T>(&self, work: impl FnOnce() -> Result<T, Error>) -> Result<T, Error> {
        let path = self.dir.join(LOCK_FILE);
        let failed = |what: &str, err: std::io::Error| {
            Error::Environment(format!(
                "cannot {what} {} ({err}): check that Redline's data directory is writable",
                path.display()
            ))
        };
        create_private_dir(&self.dir).map_err(|e| failed("create the directory of", e))?;
        let lock: File = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| failed("open the token lock", e))?;
        lock.lock().map_err(|e| failed("lock", e))?;
        let result = work();
        if result.is_ok() {
            let stamp = generate_with("", 8);
            std::fs::write(self.dir.join(STAMP_FILE), stamp.expose())
                .map_err(|e| failed("mark the change beside", e))?;
        }
        drop(lock);
        result
    }
}

/// The named set as one keyring entry: compact JSON, `{"codex":"rl_…"}` (no whitespace, as a
/// [`Secret`] requires).
fn encode(named: &BTreeMap<ToolName, Secret>) -> Secret {
    let map: BTreeMap<&str, &str> = named
        .iter()
        .map(|(tool, token)| (tool.as_str(), token.expose()))
        .collect();
    let text = zeroize::Zeroizing::new(serde_json::to_string(&map).expect("a map serialises"));
    Secret::parse(&text).expect("names and tokens have no whitespace")
}

fn decode(entry: &Secret) -> Option<BTreeMap<ToolName, Secret>> {
    let map: BTreeMap<String, String> = serde_json::from_str(entry.expose()).ok()?;
    let mut named = BTreeMap::new();
    for (tool, mut token) in map {
        let secret = Secret::parse(&token);
        zeroize::Zeroize::zeroize(&mut token);
        // An entry that is not a token of ours is dropped rather than trusted.
        let (Ok(tool), Ok(secret)) = (tool.parse::<ToolName>(), secret) else {
            continue;
        };
        // The default token lives in its own entry.
        if !tool.is_default()
            && secret.expose().starts_with(TOKEN_PREFIX)
            && !is_admin_shaped(secret.expose())
        {
            named.insert(tool, secret);
        }
    }
    Some(named)
}

fn is_admin_shaped(text: &str) -> bool {
    text.starts_with(ADMIN_PREFIX)
}

/// A fresh random tool token (the demo uses one that is never stored).
pub fn generate_token() -> Secret {
    generate_with(TOKEN_PREFIX, 32)
}

/// A fresh random admin credential.
pub fn generate_admin() -> Secret {
    generate_with(ADMIN_PREFIX, 32)
}

/// `prefix` and `bytes` random bytes in hex.
pub(crate) fn generate_with(prefix: &str, bytes: usize) -> Secret {
    let mut random = zeroize::Zeroizing::new(vec![0u8; bytes]);
    getrandom::fill(random.as_mut()).expect("the operating system's random source failed");
    let mut text = zeroize::Zeroizing::new(String::with_capacity(prefix.len() + 2 * bytes));
    text.push_str(prefix);
    for byte in random.iter() {
        text.push_str(&format!("{byte:02x}"));
    }
    Secret::parse(&text).expect("a generated token is valid")
}

/// Every tool token, the default one included, read without the lock: for recognising them in
/// tools' files.
pub fn all_tool_tokens(vault: &Vault) -> Result<Vec<Secret>, Error> {
    let mut all: Vec<Secret> = named_tokens(vault)?.into_values().collect();
    all.extend(vault.get(&Slot::LocalToken)?);
    Ok(all)
}

fn named_tokens(vault: &Vault) -> Result<BTreeMap<ToolName, Secret>, Error> {
    match vault.get(&Slot::ToolTokens)? {
        None => Ok(BTreeMap::new()),
        Some(entry) => decode(&entry).ok_or_else(|| {
            Error::Environment(
                "the keyring entry \"tool-tokens\" is damaged: delete it in your keyring manager, then give each tool a new token with `redline token --tool NAME`".into(),
            )
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_256_bit_hex_and_distinct() {
        let a = generate_token();
        let b = generate_token();
        assert_ne!(a, b);
        let hex = a.expose().strip_prefix(TOKEN_PREFIX).unwrap();
        assert_eq!(hex.len(), 64);
        assert!(hex.bytes().all(|c| c.is_ascii_hexdigit()));
        let admin = generate_admin();
        let hex = admin.expose().strip_prefix(ADMIN_PREFIX).unwrap();
        assert_eq!(hex.len(), 64);
        assert!(admin.fingerprint().starts_with("rl_…"), "{admin:?}");
    }

    #[test]
    fn tool_names_are_short_lowercase_words() {
        for good in ["codex", "claude-code", "a", "tool2", &"x".repeat(32)] {
            assert!(good.parse::<ToolName>().is_ok(), "{good}");
        }
        for bad in ["", "Codex", "-a", "a-", "a b", "a_b", &"x".repeat(33), "é"] {
            let err = bad.parse::<ToolName>().unwrap_err().to_string();
            assert!(err.contains("lowercase letters"), "{err}");
        }
    }

    #[test]
    fn the_named_set_round_trips_through_one_entry_and_drops_what_is_not_ours() {
        let mut named = BTreeMap::new();
        for tool in ["codex", "openclaw"] {
            named.insert(tool.parse().unwrap(), generate_token());
        }
        let entry = encode(&named);
        assert!(!entry.expose().contains(char::is_whitespace));
        assert_eq!(decode(&entry).unwrap(), named);

        let foreign = Secret::parse(&format!(
            r#"{{"codex":"{}","Bad":"{}","aider":"sk-real","x":"{}"}}"#,
            named.values().next().unwrap().expose(),
            generate_token().expose(),
            generate_admin().expose()
        ))
        .unwrap();
        let kept = decode(&foreign).unwrap();
        assert_eq!(
            kept.keys().map(ToolName::as_str).collect::<Vec<_>>(),
            ["codex"]
        );
        assert!(decode(&Secret::parse("not-json").unwrap()).is_none());
        // A full set of the longest names still fits one entry.
        let full: BTreeMap<ToolName, Secret> = (0..MAX_TOOL_TOKENS)
            .map(|i| (format!("{i:0>32}").parse().unwrap(), generate_token()))
            .collect();
        assert_eq!(decode(&encode(&full)).unwrap().len(), MAX_TOOL_TOKENS);
    }
}
