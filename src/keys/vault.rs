//! The key vault: API keys and Redline's own credentials in the operating system's keyring (Secret
//! Service on Linux, Keychain on macOS, Credential Manager on Windows), never in a file.
//!
//! Keyring calls block (D-Bus round trips, unlock prompts), so async callers go through
//! [`off_runtime`]. "No entry" is `None`; a keyring that cannot be reached or is locked is one
//! readable error. There is deliberately no plaintext fallback.
//!
//! The store behind it is `keys/store.rs`'s: built again after a failure, so a process that
//! started before the keyring did can use it once it is up, and [`Vault::probe`] looks at the
//! keyring without ever prompting.

use crate::keys::account_id::AccountId;
use crate::keys::secret::Secret;
use crate::keys::store::{self, Down};

const DEFAULT_SERVICE: &str = "redline";

/// Which secret: an account's current key, its rollback copy, or one of Redline's own
/// credentials (see `keys/token.rs`).
#[derive(Clone, Debug)]
pub enum Slot {
    Current(AccountId),
    Previous(AccountId),
    /// The default tool token (`redline token`): the single local token of earlier versions,
    /// under its old entry name so tools set up then keep working.
    LocalToken,
    /// The named tool tokens (`redline token --tool NAME`), all in one entry.
    ToolTokens,
    /// The admin credential: the JSON API, /metrics and the dashboard.
    Admin,
    /// The shared limits' Redis password (`redline config set-secret shared.redis_password`),
    /// used when `shared.redis_url` holds none.
    SharedRedisPassword,
}

impl Slot {
    /// The keyring entry's user name under Redline's service name.
    fn entry_name(&self) -> String {
        match self {
            Slot::Current(id) => format!("account:{id}"),
            Slot::Previous(id) => format!("account:{id}:previous"),
            Slot::LocalToken => "local-token".to_owned(),
            Slot::ToolTokens => "tool-tokens".to_owned(),
            Slot::Admin => "admin-token".to_owned(),
            Slot::SharedRedisPassword => "shared-redis-password".to_owned(),
        }
    }
}

#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
pub enum VaultError {
    #[error("cannot reach the OS keyring ({detail}). {remedy} Redline never falls back to keeping keys in a file", remedy = UNAVAILABLE_REMEDY)]
    Unavailable { detail: String },
    #[error(
        "the OS keyring is locked ({detail}). Unlock it (log in again, or open your keyring manager and unlock the login keyring), then try again"
    )]
    Locked { detail: String },
    #[error(
        "the keyring entry {entry:?} does not hold text: delete it in your keyring manager and store the key again"
    )]
    NotText { entry: String },
    #[error("the OS keyring refused {entry:?}: {detail}")]
    Other { entry: String, detail: String },
}

#[cfg(target_os = "linux")]
const UNAVAILABLE_REMEDY: &str = "Start a Secret Service (gnome-keyring-daemon, KDE Wallet or KeePassXC with Secret Service integration) in your desktop session and unlock it, then try again.";
#[cfg(target_os = "macos")]
const UNAVAILABLE_REMEDY: &str =
    "Check that your login keychain exists and is unlocked (Keychain Access), then try again.";
#[cfg(target_os = "windows")]
const UNAVAILABLE_REMEDY: &str =
    "Check that the Windows Credential Manager service is running, then try again.";
#[cfg(not(any(target_os = "linux", target_os = "macos", target_os = "windows")))]
const UNAVAILABLE_REMEDY: &str =
    "Start a Secret Service provider in your session and unlock it, then try again.";

/// Handle on Redline's entries in the OS keyring. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Vault {
    service: String,
}

impl Vault {
    /// Uses the service name `redline`, or `REDLINE_KEYRING_SERVICE` when set.
    pub fn from_env() -> Vault {
        let service = std::env::var("REDLINE_KEYRING_SERVICE")
            .ok()
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| DEFAULT_SERVICE.to_owned());
        Vault { service }
    }

    /// A vault under another service name (tests keep their entries apart this way).
    pub fn with_service(service: &str) -> Vault {
        Vault {
            service: service.to_owned(),
        }
    }

    pub fn service(&self) -> &str {
        &self.service
    }

    /// The secret in `slot`, or `None` when there is none. Blocking.
    pub fn get(&self, slot: &Slot) -> Result<Option<Secret>, VaultError> {
        let name = slot.entry_name();
        match store::with_entry(&self.service, &name, |entry| entry.get_password()) {
            Ok(text) => Secret::parse(&text)
                .map(Some)
                .map_err(|_| VaultError::NotText { entry: name }),
            Err(keyring::Error::NoEntry) => Ok(None),
            Err(err) => Err(explain(&name, err)),
        }
    }

    /// Stores `secret` in `slot`, replacing what was there. Blocking.
    pub fn set(&self, slot: &Slot, secret: &Secret) -> Result<(), VaultError> {
        let name = slot.entry_name();
        store::with_entry(&self.service, &name, |entry| {
            entry.set_password(secret.expose())
        })
        .map_err(|err| explain(&name, err))
    }

    /// Removes the secret in `slot`; `false` when there was none. Blocking.
    pub fn delete(&self, slot: &Slot) -> Result<bool, VaultError> {
        let name = slot.entry_name();
        match store::with_entry(&self.service, &name, |entry| entry.delete_credential()) {
            Ok(()) => Ok(true),
            Err(keyring::Error::NoEntry) => Ok(false),
            Err(err) => Err(explain(&name, err)),
        }
    }

    /// Whether this vault's entries can be read now without asking the user anything (no
    /// unlock prompt): `Err` with [`VaultError::Unavailable`] or [`VaultError::Locked`] when
    /// not. Platforms that cannot tell without trying say `Ok`. Blocking (one D-Bus round
    /// trip or two).
    pub fn probe(&self) -> Result<(), VaultError> {
        store::probe(&self.service).map_err(|down| match down {
            Down::Unavailable(detail) => VaultError::Unavailable { detail },
            Down::Locked(detail) => VaultError::Locked { detail },
        })
    }
}

impl VaultError {
    /// The keyring itself is out of reach (not running, or locked), as opposed to one entry's
    /// problem: a running engine waits for it rather than failing.
    pub fn is_keyring_down(&self) -> bool {
        matches!(
            self,
            VaultError::Unavailable { .. } | VaultError::Locked { .. }
        )
    }

    /// What a running engine shows while it waits for the keyring: what is wrong, what to do,
    /// and that Redline carries on by itself. `None` for an entry's own problem.
    pub fn waiting_message(&self) -> Option<String> {
        let picks_up = "Redline picks the keys up by itself within seconds; no restart needed.";
        match self {
            VaultError::Locked { .. } => {
                Some(format!("Keyring locked: {LOCKED_REMEDY} {picks_up}"))
            }
            VaultError::Unavailable { detail } => Some(format!(
                "Keyring unavailable ({detail}): {WAITING_REMEDY} {picks_up}"
            )),
            _ => None,
        }
    }
}

#[cfg(target_os = "macos")]
const LOCKED_REMEDY: &str = "unlock your login keychain (Keychain Access, or log in again).";
#[cfg(not(target_os = "macos"))]
const LOCKED_REMEDY: &str = "unlock your login keyring (log in again, or unlock \"Login\" in Passwords and Keys or your keyring manager).";
#[cfg(target_os = "linux")]
const WAITING_REMEDY: &str = "start your Secret Service (gnome-keyring-daemon, KDE Wallet, or KeePassXC with Secret Service integration) in your desktop session, and unlock your login keyring.";
#[cfg(target_os = "macos")]
const WAITING_REMEDY: &str =
    "check that your login keychain exists and is unlocked (Keychain Access).";
#[cfg(target_os = "windows")]
const WAITING_REMEDY: &str = "check that the Windows Credential Manager service is running.";
#[cfg(not(any(target_os = "linux", target_os = "macos", target_os = "windows")))]
const WAITING_REMEDY: &str = "start a Secret Service provider in your session and unlock it.";

/// Runs blocking keyring work on tokio's blocking pool, away from the async workers.
pub async fn off_runtime<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(work)
        .await
        .expect("keyring task panicked")
}

/// Maps a keyring error to what the user should do. Never formats secret-bearing variants.
fn explain(entry: &str, err: keyring::Error) -> VaultError {
    use keyring::Error as K;
    let one_line = |text: String| text.split_whitespace().collect::<Vec<_>>().join(" ");
    match err {
        K::NoStorageAccess(cause) => VaultError::Locked {
            detail: one_line(cause.to_string()),
        },
        K::PlatformFailure(cause) => VaultError::Unavailable {
            detail: one_line(cause.to_string()),
        },
        K::NoDefaultStore => VaultError::Unavailable {
            detail: "no credential store".into(),
        },
        K::BadEncoding(_) | K::BadDataFormat(..) => VaultError::NotText {
            entry: entry.into(),
        },
        K::Ambiguous(_) => VaultError::Other {
            entry: entry.into(),
            detail: "several entries match; remove the duplicates in your keyring manager".into(),
        },
        other => VaultError::Other {
            entry: entry.into(),
            detail: one_line(other.to_string()),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locked_and_unreachable_keyrings_get_readable_one_line_errors() {
        let locked = explain(
            "account:a",
            keyring::Error::NoStorageAccess("collection\nis locked".into()),
        );
        let text = locked.to_string();
        assert!(
            text.contains("locked (collection is locked)") && text.contains("Unlock it"),
            "{text}"
        );
        assert!(!text.contains('\n'));

        let gone = explain(
            "account:a",
            keyring::Error::PlatformFailure("no bus".into()),
        );
        let text = gone.to_string();
        assert!(
            text.contains("cannot reach the OS keyring (no bus)"),
            "{text}"
        );
        assert!(text.contains("never falls back"), "{text}");
    }

    #[test]
    fn undecodable_entries_never_echo_their_bytes() {
        let err = explain(
            "account:a",
            keyring::Error::BadEncoding(b"sk-secret-bytes".to_vec()),
        );
        assert!(!format!("{err} {err:?}").contains("sk-secret"));
    }

    #[test]
    fn slots_have_distinct_entry_names() {
        let id: AccountId = "kimi-main".parse().unwrap();
        assert_eq!(Slot::Current(id.clone()).entry_name(), "account:kimi-main");
        assert_eq!(
            Slot::Previous(id).entry_name(),
            "account:kimi-main:previous"
        );
        assert_eq!(Slot::LocalToken.entry_name(), "local-token");
        assert_eq!(Slot::ToolTokens.entry_name(), "tool-tokens");
        assert_eq!(Slot::Admin.entry_name(), "admin-token");
        assert_eq!(
            Slot::SharedRedisPassword.entry_name(),
            "shared-redis-password"
        );
    }
}
