//! The platform's credential store behind [`super::vault::Vault`], and a look at the keyring
//! that never prompts.
//!
//! The `keyring` crate starts its default store once per process and keeps the result: a
//! process that started while the Secret Service was not running (a daemon started before the
//! desktop session's keyring, a service started at boot) could never use the keyring later. So
//! on the Secret Service platforms Redline builds the store itself, keeps it while it works,
//! and builds a new one after a failure to reach the service; the next call after the keyring
//! comes up succeeds. Other platforms keep the `keyring` crate's own store.
//!
//! [`probe`] says whether the keyring can be read without asking the user anything: the engine
//! waits for a locked keyring quietly (an unlock prompt every few seconds, or one the user is
//! not there to answer, would be worse than waiting), and reads once it is unlocked.

use keyring_core::{Entry, Error, Result};

/// Runs `op` on the entry `user` of `service`. On the Secret Service platforms a store that
/// stopped working (the service restarted or went away) is replaced and `op` tried once more.
pub(super) fn with_entry<T>(
    service: &str,
    user: &str,
    op: impl Fn(&Entry) -> Result<T>,
) -> Result<T> {
    platform::with_entry(service, user, op)
}

/// Why the keyring cannot be read now without prompting; `Ok` when it can (or when this
/// platform cannot tell without trying).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Down {
    /// No keyring service answers (none running, no session bus).
    Unavailable(String),
    /// The service answers, but Redline's entries (or the collection new ones go into) are
    /// locked.
    Locked(String),
}

/// Looks at the keyring without prompting: whether Redline's entries under `service` can be
/// read now.
pub(super) fn probe(service: &str) -> std::result::Result<(), Down> {
    platform::probe(service)
}

#[cfg(all(
    unix,
    not(any(target_os = "macos", target_os = "ios", target_os = "android"))
))]
mod platform {
    use super::{Down, Entry, Error, Result};
    use keyring_core::CredentialStore;
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex, PoisonError};
    use zbus::zvariant::OwnedObjectPath;

    /// The store in use; `None` until one is made, and again after it failed.
    static STORE: Mutex<Option<Arc<CredentialStore>>> = Mutex::new(None);

    fn kept_or_new() -> Result<(Arc<CredentialStore>, bool)> {
        let mut kept = STORE.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(store) = kept.as_ref() {
            return Ok((store.clone(), true));
        }
        let store: Arc<CredentialStore> = zbus_secret_service_keyring_store::Store::new()?;
        *kept = Some(store.clone());
        Ok((store, false))
    }

    fn forget(failed: &Arc<CredentialStore>) {
        let mut kept = STORE.lock().unwrap_or_else(PoisonError::into_inner);
        if kept
            .as_ref()
            .is_some_and(|store| Arc::ptr_eq(store, failed))
        {
            *kept = None;
        }
    }

    pub(super) fn with_entry<T>(
        service: &str,
        user: &str,
        op: impl Fn(&Entry) -> Result<T>,
    ) -> Result<T> {
        let (store, kept) = kept_or_new()?;
        let result = op(&Entry::new_in_store(&store, service, user)?);
        // A locked keyring is no broken connection: only a platform failure renews the store.
        if !matches!(result, Err(Error::PlatformFailure(_))) {
            return result;
        }
        forget(&store);
        if !kept {
            return result;
        }
        // The kept store may only have outlived its service (restarted): one more try.
        let Ok((fresh, _)) = kept_or_new() else {
            return result;
        };
        let again = op(&Entry::new_in_store(&fresh, service, user)?);
        if matches!(again, Err(Error::PlatformFailure(_))) {
            forget(&fresh);
        }
        again
    }

    const SECRETS: &str = "org.freedesktop.secrets";
    const PATH: &str = "/org/freedesktop/secrets";
    const SERVICE: &str = "org.freedesktop.Secret.Service";

    /// A connection to the session bus for probing, kept while it works.
    static BUS: Mutex<Option<zbus::blocking::Connection>> = Mutex::new(None);

    pub(super) fn probe(service: &str) -> std::result::Result<(), Down> {
        let connection = {
            let mut kept = BUS.lock().unwrap_or_else(PoisonError::into_inner);
            match kept.as_ref() {
                Some(connection) => connection.clone(),
                None => {
                    let connection = zbus::blocking::Connection::session().map_err(|err| {
                        Down::Unavailable(format!("no D-Bus session bus: {}", one_line(&err)))
                    })?;
                    *kept = Some(connection.clone());
                    connection
                }
            }
        };
        let looked = look(&connection, service);
        if matches!(&looked, Err(Down::Unavailable(_))) {
            // The bus itself may be what broke; the next probe connects again.
            *BUS.lock().unwrap_or_else(PoisonError::into_inner) = None;
        }
        looked
    }

    /// Redline's items locked, or the collection new items go into: both would need an unlock
    /// prompt. Neither call prompts.
    fn look(bus: &zbus::blocking::Connection, service: &str) -> std::result::Result<(), Down> {
        let attributes = HashMap::from([("service", service)]);
        let (_, locked): (Vec<OwnedObjectPath>, Vec<OwnedObjectPath>) =
            call(bus, PATH, SERVICE, "SearchItems", &(attributes,))?;
        if !locked.is_empty() {
            return Err(Down::Locked(format!(
                "{} of Redline's keyring entries are in a locked collection",
                locked.len()
            )));
        }
        let default: OwnedObjectPath = call(bus, PATH, SERVICE, "ReadAlias", &("default",))?;
        if default.as_str() == "/" {
            // No default collection yet: the first write makes one, without a prompt.
            return Ok(());
        }
        let locked: zbus::zvariant::OwnedValue = call(
            bus,
            default.as_str(),
            "org.freedesktop.DBus.Properties",
            "Get",
            &("org.freedesktop.Secret.Collection", "Locked"),
        )?;
        match bool::try_from(locked) {
            Ok(true) => Err(Down::Locked("the default collection is locked".into())),
            _ => Ok(()),
        }
    }

    fn call<B, R>(
        bus: &zbus::blocking::Connection,
        path: &str,
        interface: &str,
        method: &str,
        body: &B,
    ) -> std::result::Result<R, Down>
    where
        B: serde::Serialize + zbus::zvariant::DynamicType,
        R: for<'d> zbus::zvariant::DynamicDeserialize<'d>,
    {
        let reply = bus
            .call_method(Some(SECRETS), path, Some(interface), method, body)
            .map_err(|err| match &err {
                zbus::Error::MethodError(name, _, _)
                    if name.as_str() == "org.freedesktop.DBus.Error.ServiceUnknown"
                        || name.as_str() == "org.freedesktop.DBus.Error.NameHasNoOwner" =>
                {
                    Down::Unavailable("no Secret Service is running in this session".into())
                }
                _ => Down::Unavailable(format!(
                    "the Secret Service did not answer: {}",
                    one_line(&err)
                )),
            })?;
        reply.body().deserialize().map_err(|err| {
            Down::Unavailable(format!(
                "the Secret Service gave an answer Redline cannot read: {}",
                one_line(&err)
            ))
        })
    }

    fn one_line(err: &dyn std::fmt::Display) -> String {
        err.to_string()
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    }
}

#[cfg(not(all(
    unix,
    not(any(target_os = "macos", target_os = "ios", target_os = "android"))
)))]
mod platform {
    use super::{Down, Entry, Result};

    pub(super) fn with_entry<T>(
        service: &str,
        user: &str,
        op: impl Fn(&Entry) -> Result<T>,
    ) -> Result<T> {
        op(&keyring::Entry::new(service, user)?.inner)
    }

    /// Keychain and Credential Manager say so when they are locked; trying is the look.
    pub(super) fn probe(_service: &str) -> std::result::Result<(), Down> {
        Ok(())
    }
}
