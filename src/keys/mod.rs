//! Keys: everything about a user's API keys and Redline's own credentials. This file is the key
//! lifecycle; beside it: `vault` (the OS keyring), `secret` (a secret that never prints),
//! `token` (tool tokens and the admin credential in the keyring), `credentials` (the same in a
//! running engine), `destination` (where a key may be sent), `verify` (checking a key with its
//! provider), `account_id`.
//!
//! The key lifecycle: add, list, test, rotate, roll back and remove API keys. One API for the
//! CLI now and the JSON API and desktop app later.
//!
//! Every operation that touches both the keyring and the config runs inside
//! [`ConfigFile::update`], so it holds the config lock throughout and the file is written only
//! after the keyring agrees. The async methods run the blocking work off the runtime.

pub mod account_id;
pub mod credentials;
pub mod destination;
pub mod secret;
pub mod stand_in;
mod store;
pub mod token;
pub mod vault;
pub mod verify;

use crate::config::paths::Paths;
use crate::config::{Account, ConcurrencyCap, Config, ConfigEdit, ConfigFile, validate_base_url};
use crate::error::Error;
use crate::keys::account_id::AccountId;
use crate::keys::secret::Secret;
use crate::keys::vault::{Slot, Vault, off_runtime};
use crate::keys::verify::verify;
use crate::poll::fetch::HttpClient;
use crate::providers::ProviderId;
use jiff::{Timestamp, Unit};
use serde::Serialize;

/// What a new account is, apart from its secret.
#[derive(Clone, Debug)]
pub struct NewAccount {
    pub id: AccountId,
    pub provider: ProviderId,
    pub base_url: Option<String>,
    pub label: Option<String>,
    /// The provider's verdict on the key, when it was checked before storing.
    pub check: Option<TestResult>,
    /// The base URL's host when the user confirmed sending the key there although the
    /// provider does not own it (see `destination`).
    pub confirm_host: Option<String>,
}

/// What can be shown about a stored key: never the secret.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct KeyInfo {
    pub id: String,
    pub provider: ProviderId,
    pub label: Option<String>,
    pub base_url: Option<String>,
    pub fingerprint: Option<String>,
    /// Whole days since the current key was put in place.
    pub age_days: Option<i64>,
    pub created_at: Option<Timestamp>,
    pub rotated_at: Option<Timestamp>,
    /// Fingerprint of the rollback copy kept by the last rotation.
    pub previous_fingerprint: Option<String>,
    pub last_test: Option<TestResult>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TestResult {
    pub ok: bool,
    pub message: String,
    pub at: Timestamp,
    /// The field names (never values) of a usage answer of a shape Redline does not know.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub answer_fields: Vec<String>,
}

impl TestResult {
    /// A check the key passed just now.
    pub fn passed(message: String) -> TestResult {
        TestResult {
            ok: true,
            message,
            at: now(),
            answer_fields: Vec::new(),
        }
    }
}

#[derive(Clone, Debug)]
pub struct Keys {
    config: ConfigFile,
    vault: Vault,
}

impl Keys {
    pub fn new(config: ConfigFile, vault: Vault) -> Keys {
        Keys { config, vault }
    }

    /// Keys for this install: config under `paths`, secrets in the OS keyring.
    pub fn from_paths(paths: &Paths) -> Keys {
        Keys::new(ConfigFile::new(paths.config_file()), Vault::from_env())
    }

    pub fn config(&self) -> &ConfigFile {
        &self.config
    }

    /// Stores a new account's key in the keyring and the account in the config.
    pub async fn add(&self, new: NewAccount, secret: Secret) -> Result<KeyInfo, Error> {
        let this = self.clone();
        off_runtime(move || this.add_blocking(new, secret)).await
    }

    /// Every account, sorted by id. Reads only the config, so it never prompts for an unlock.
    pub fn list(&self) -> Result<Vec<KeyInfo>, Error> {
        let config = self.config.load()?;
        let now = Timestamp::now();
        Ok(config
            .accounts
            .iter()
            .map(|(id, account)| key_info(id, account, now))
            .collect())
    }

    /// Checks the stored key with its provider and records the result.
    pub async fn test(&self, id: AccountId, client: &HttpClient) -> Result<TestResult, Error> {
        let this = self.clone();
        let lookup_id = id.clone();
        let (account, secret) = off_runtime(move || {
            let account = this.config.load()?.account(&lookup_id)?.clone();
            Ok::<_, Error>((account, this.vault.get(&Slot::Current(lookup_id))?))
        })
        .await?;
        let result = match secret {
            None => TestResult {
                ok: false,
                message: Error::MissingSecret(id.to_string()).to_string(),
                at: now(),
                answer_fields: Vec::new(),
            },
            Some(secret) => {
                let verdict = verify(
                    client,
                    account.provider,
                    account.base_url.as_deref(),
                    &secret,
                )
                .await;
                TestResult {
                    ok: verdict.is_valid(),
                    message: verdict.message(),
                    at: now(),
                    answer_fields: verdict.answer_fields().to_vec(),
                }
            }
        };
        let this = self.clone();
        let recorded = result.clone();
        off_runtime(move || this.record_test(&id, &recorded)).await?;
        Ok(result)
    }

    /// Replaces the key, keeping the old one as the rollback copy (replacing any older copy).
    /// `check` is the provider's verdict on the new key, when it was checked.
    pub async fn rotate(
        &self,
        id: AccountId,
        secret: Secret,
        check: Option<TestResult>,
    ) -> Result<KeyInfo, Error> {
        let this = self.clone();
        off_runtime(move || this.rotate_blocking(&id, secret, check)).await
    }

    /// Swaps the current key and the rollback copy, so a second rollback undoes the first.
    pub async fn rollback(&self, id: AccountId) -> Result<KeyInfo, Error> {
        let this = self.clone();
        off_runtime(move || this.rollback_blocking(&id)).await
    }

    /// Removes both keyring entries, then the account.
    pub async fn remove(&self, id: AccountId) -> Result<(), Error> {
        let this = self.clone();
        off_runtime(move || this.remove_blocking(&id)).await
    }

    /// Runs `change` under the config lock with the account's keyring entries saved first; when
    /// the change fails or the config cannot be saved afterwards (a full disk), the entries are
    /// put back as they were, so the keyring and the config never disagree.
    fn change_account<T>(
        &self,
        id: &AccountId,
        change: impl FnOnce(&Config, &mut ConfigEdit) -> Result<T, Error>,
    ) -> Result<T, Error> {
        let saved = std::cell::RefCell::new(None);
        let put_back = || {
            if let Some(entries) = saved.borrow_mut().take() {
                self.put_back(entries);
            }
        };
        self.config.update_or_undo(
            |config, edit| {
                *saved.borrow_mut() = Some(self.entries_of(id)?);
                change(config, edit).inspect_err(|_| put_back())
            },
            put_back,
        )
    }

    fn entries_of(&self, id: &AccountId) -> Result<Vec<(Slot, Option<Secret>)>, Error> {
        [Slot::Current(id.clone()), Slot::Previous(id.clone())]
            .into_iter()
            .map(|slot| Ok((slot.clone(), self.vault.get(&slot)?)))
            .collect()
    }

    /// Best effort: the error that made the change fail is the one worth reporting.
    fn put_back(&self, entries: Vec<(Slot, Option<Secret>)>) {
        for (slot, secret) in entries {
            let restored = match secret {
                Some(secret) => self.vault.set(&slot, &secret),
                None => self.vault.delete(&slot).map(|_| ()),
            };
            if let Err(err) = restored {
                eprintln!("redline: could not put a keyring entry back as it was: {err}");
            }
        }
    }

    fn add_blocking(&self, new: NewAccount, secret: Secret) -> Result<KeyInfo, Error> {
        let base_url = new
            .base_url
            .as_deref()
            .map(validate_base_url)
            .transpose()
            .map_err(Error::InvalidBaseUrl)?;
        if let Some(url) = &base_url {
            destination::check(new.provider, url, new.confirm_host.as_deref())?;
        }
        let now = now();
        let account = Account {
            provider: new.provider,
            label: new.label.filter(|l| !l.trim().is_empty()),
            base_url,
            concurrency_cap: ConcurrencyCap::Off,
            tier: None,
            fingerprint: Some(secret.fingerprint()),
            created_at: Some(now),
            rotated_at: None,
            previous_fingerprint: None,
            previous_since: None,
            last_test_at: new.check.as_ref().map(|c| c.at),
            last_test_ok: new.check.as_ref().map(|c| c.ok),
            last_test_message: new.check.as_ref().map(|c| c.message.clone()),
        };
        let id = new.id;
        self.change_account(&id, |config, edit| {
            if config.accounts.contains_key(&id) {
                return Err(Error::DuplicateAccount(id.to_string()));
            }
            // A rollback copy left by an earlier account of the same id must not resurface.
            self.vault.delete(&Slot::Previous(id.clone()))?;
            self.vault.set(&Slot::Current(id.clone()), &secret)?;
            edit.put_account(&id, &account)?;
            Ok(key_info(&id, &account, now))
        })
    }

    fn record_test(&self, id: &AccountId, result: &TestResult) -> Result<(), Error> {
        self.config.update(|config, edit| {
            let mut account = config.account(id)?.clone();
            set_test(&mut account, Some(result));
            edit.put_account(id, &account)
        })
    }

    fn rotate_blocking(
        &self,
        id: &AccountId,
        secret: Secret,
        check: Option<TestResult>,
    ) -> Result<KeyInfo, Error> {
        self.change_account(id, |config, edit| {
            let mut account = config.account(id)?.clone();
            let current = self
                .vault
                .get(&Slot::Current(id.clone()))?
                .ok_or_else(|| Error::MissingSecret(id.to_string()));
            let now = now();
            match current {
                Ok(current) if current == secret => return Err(Error::SameKey(id.to_string())),
                Ok(current) => {
                    // Old key first: if the second write fails, both slots hold the old key.
                    self.vault.set(&Slot::Previous(id.clone()), &current)?;
                    account.previous_fingerprint = Some(current.fingerprint());
                    account.previous_since = account.key_since();
                }
                // The current key vanished from the keyring: rotating is how it comes back.
                Err(_) => {
                    self.vault.delete(&Slot::Previous(id.clone()))?;
                    account.previous_fingerprint = None;
                    account.previous_since = None;
                }
            }
            self.vault.set(&Slot::Current(id.clone()), &secret)?;
            account.fingerprint = Some(secret.fingerprint());
            account.rotated_at = Some(now);
            set_test(&mut account, check.as_ref());
            edit.put_account(id, &account)?;
            Ok(key_info(id, &account, now))
        })
    }

    fn rollback_blocking(&self, id: &AccountId) -> Result<KeyInfo, Error> {
        self.change_account(id, |config, edit| {
            let mut account = config.account(id)?.clone();
            let previous = self
                .vault
                .get(&Slot::Previous(id.clone()))?
                .ok_or_else(|| Error::NoPreviousKey(id.to_string()))?;
            let current = self
                .vault
                .get(&Slot::Current(id.clone()))?
                .ok_or_else(|| Error::MissingSecret(id.to_string()))?;
            self.vault.set(&Slot::Current(id.clone()), &previous)?;
            self.vault.set(&Slot::Previous(id.clone()), &current)?;
            let current_since = account.key_since();
            account.fingerprint = Some(previous.fingerprint());
            account.rotated_at = account.previous_since.or(account.created_at);
            account.previous_fingerprint = Some(current.fingerprint());
            account.previous_since = current_since;
            set_test(&mut account, None);
            edit.put_account(id, &account)?;
            Ok(key_info(id, &account, Timestamp::now()))
        })
    }

    fn remove_blocking(&self, id: &AccountId) -> Result<(), Error> {
        self.change_account(id, |config, edit| {
            config.account(id)?;
            self.vault.delete(&Slot::Previous(id.clone()))?;
            self.vault.delete(&Slot::Current(id.clone()))?;
            edit.remove_account(id);
            Ok(())
        })
    }
}

/// Now, to the second: the config file stays readable.
pub fn now() -> Timestamp {
    Timestamp::now()
        .round(Unit::Second)
        .expect("rounding now to seconds cannot overflow")
}

fn set_test(account: &mut Account, result: Option<&TestResult>) {
    account.last_test_at = result.map(|r| r.at);
    account.last_test_ok = result.map(|r| r.ok);
    account.last_test_message = result.map(|r| r.message.clone());
}

/// Whole days from `since` to `now`.
pub fn age_days(since: Timestamp, now: Timestamp) -> i64 {
    now.duration_since(since).as_secs().max(0) / 86_400
}

fn key_info(id: &AccountId, account: &Account, now: Timestamp) -> KeyInfo {
    let last_test = match (account.last_test_ok, account.last_test_at) {
        (Some(ok), Some(at)) => Some(TestResult {
            ok,
            at,
            message: account.last_test_message.clone().unwrap_or_default(),
            answer_fields: Vec::new(),
        }),
        _ => None,
    };
    KeyInfo {
        id: id.to_string(),
        provider: account.provider,
        label: account.label.clone(),
        base_url: account.base_url.clone(),
        fingerprint: account.fingerprint.clone(),
        age_days: account.key_since().map(|since| age_days(since, now)),
        created_at: account.created_at,
        rotated_at: account.rotated_at,
        previous_fingerprint: account.previous_fingerprint.clone(),
        last_test,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn age_counts_whole_days() {
        let since: Timestamp = "2026-11-01T12:00:00Z".parse().unwrap();
        assert_eq!(age_days(since, "2026-11-02T11:59:59Z".parse().unwrap()), 0);
        assert_eq!(age_days(since, "2026-11-02T12:00:00Z".parse().unwrap()), 1);
        assert_eq!(age_days(since, "2026-11-29T00:00:00Z".parse().unwrap()), 27);
        // A clock that went backwards does not give a negative age.
        assert_eq!(age_days(since, "2026-10-01T00:00:00Z".parse().unwrap()), 0);
    }
}
