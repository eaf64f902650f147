//! The engine's errors. Each message is one line that says what happened and what to do, and
//! none of them ever holds a secret.

use crate::keys::account_id::InvalidAccountId;
use crate::keys::secret::SecretError;
use crate::keys::vault::VaultError;
use crate::providers::UnknownProvider;
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{}{}: {message}. Fix the file or move it aside to start over; Redline did not change it", path.display(), line.map(|l| format!(", line {l}")).unwrap_or_default())]
    ConfigInvalid {
        path: PathBuf,
        line: Option<usize>,
        message: String,
    },
    #[error("cannot read {}: {source}", path.display())]
    ConfigRead {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot save {}: {source}; the previous file is unchanged", path.display())]
    ConfigWrite {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("that change was not saved: {0}")]
    InvalidChange(String),
    #[error("unknown setting {key:?}; valid keys are: {valid}")]
    UnknownSetting { key: String, valid: String },
    #[error("{key}: {message}")]
    InvalidSetting { key: String, message: String },
    #[error(transparent)]
    Keyring(#[from] VaultError),
    #[error(transparent)]
    Secret(#[from] SecretError),
    #[error(transparent)]
    InvalidId(#[from] InvalidAccountId),
    #[error(transparent)]
    UnknownProvider(#[from] UnknownProvider),
    #[error("{0}")]
    InvalidBaseUrl(String),
    #[error(
        "the base URL's host {host} does not belong to {provider}, so the account's key would be sent to whoever runs it. If you trust that host, confirm it: --confirm-host {host} (\"confirm_host\": \"{host}\" in the API)"
    )]
    HostNotConfirmed {
        host: String,
        provider: &'static str,
    },
    #[error(
        "an account named {0} already exists: choose another id, or replace its key with `redline keys rotate {0}`"
    )]
    DuplicateAccount(String),
    #[error("no account named {0}: `redline keys list` shows the ones you have")]
    NoSuchAccount(String),
    #[error(
        "the keyring has no key for {0} (it was removed outside Redline): store it again with `redline keys rotate {0}`"
    )]
    MissingSecret(String),
    #[error(
        "{0} has no previous key to roll back to: a previous key is kept only by `redline keys rotate`"
    )]
    NoPreviousKey(String),
    #[error("that is the key {0} already uses: nothing to rotate")]
    SameKey(String),
    #[error("the key was not stored: {0}")]
    KeyCheckFailed(String),
    #[error("{0}")]
    Environment(String),
}
