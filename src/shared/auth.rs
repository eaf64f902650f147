//! The password the shared server is logged into with: the one in `shared.redis_url` when it
//! holds one, else the one stored in the OS keyring (`redline config set-secret
//! shared.redis_password`), else none. Read at every connection attempt, so a password stored
//! while the daemon cannot log in is used at its next attempt.

use crate::keys::vault::{Slot, Vault, off_runtime};
use zeroize::Zeroizing;

use super::url::RedisUrl;

/// Where the password came from, for the words of a refusal (never the password itself).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    Url,
    Keyring,
}

/// The default is no password (and no keyring consulted).
#[derive(Default)]
pub struct Auth {
    pub password: Option<(Zeroizing<String>, Source)>,
    /// Why the keyring could not be read, when the URL holds no password and it could not.
    pub keyring_problem: Option<String>,
}

/// The command that stores the password in the keyring.
pub const SET_SECRET: &str = "redline config set-secret shared.redis_password";
pub const RM_SECRET: &str = "redline config rm-secret shared.redis_password";

impl Auth {
    /// The password for `url`: its own, or the keyring's. Reads the keyring without prompting
    /// (a locked keyring counts as none, and says so if the server asks for a password).
    pub async fn for_url(url: &RedisUrl) -> Auth {
        if let Some(password) = url.password() {
            return Auth {
                password: Some((Zeroizing::new(password.to_owned()), Source::Url)),
                keyring_problem: None,
            };
        }
        let vault = Vault::from_env();
        let read = off_runtime(move || {
            vault.probe()?;
            vault.get(&Slot::SharedRedisPassword)
        })
        .await;
        match read {
            Ok(password) => Auth {
                password: password
                    .map(|s| (Zeroizing::new(s.expose().to_owned()), Source::Keyring)),
                keyring_problem: None,
            },
            Err(problem) => Auth {
                password: None,
                keyring_problem: Some(problem.to_string()),
            },
        }
    }

    /// What to say when the server refused the password (`AUTH` failed); `server` is its
    /// answer, kept only if it does not quote the password.
    pub fn refused(&self, server: &str) -> String {
        let server = match &self.password {
            Some((password, _)) if server.contains(password.as_str()) => "refused".to_owned(),
            _ => server.trim_start_matches("the server refused: ").to_owned(),
        };
        match self.password.as_ref().map(|(_, source)| source) {
            Some(Source::Keyring) => format!(
                "the server refused the password stored in the keyring (AUTH failed: \
                 {server}): store the right one with `{SET_SECRET}`, or remove it with \
                 `{RM_SECRET}` if the server needs none"
            ),
            _ => format!(
                "the server refused the password in shared.redis_url (AUTH failed: {server}): \
                 correct it with `redline config set shared.redis_url`, or leave it out of the \
                 URL and store it with `{SET_SECRET}`"
            ),
        }
    }

    /// What to say when the server asks for a password this instance does not have.
    pub fn missing(&self) -> String {
        let keyring = self
            .keyring_problem
            .as_deref()
            .map_or(String::new(), |problem| {
                format!(" (the keyring could not be read: {problem})")
            });
        format!(
            "the server asks for a password (NOAUTH) and none is set{keyring}: store it with \
             `{SET_SECRET}` (typed at a hidden prompt or piped on stdin), or put it in \
             shared.redis_url"
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_say_where_the_password_came_from_and_never_quote_it() {
        const SECRET: &str = "s3cret-pass-4242";
        let keyring = Auth {
            password: Some((Zeroizing::new(SECRET.to_owned()), Source::Keyring)),
            keyring_problem: None,
        };
        let said = keyring.refused("the server refused: WRONGPASS invalid username-password pair");
        assert!(said.contains("AUTH failed: WRONGPASS"), "{said}");
        assert!(
            said.contains("stored in the keyring") && said.contains(SET_SECRET),
            "{said}"
        );
        let echoed = keyring.refused(&format!("ERR bad password {SECRET}"));
        assert!(!echoed.contains(SECRET), "{echoed}");
        let url = Auth {
            password: Some((Zeroizing::new(SECRET.to_owned()), Source::Url)),
            keyring_problem: None,
        };
        let said = url.refused("WRONGPASS");
        assert!(said.contains("in shared.redis_url (AUTH failed"), "{said}");
        let none = Auth {
            password: None,
            keyring_problem: Some("the OS keyring is locked".into()),
        };
        let said = none.missing();
        assert!(
            said.contains("NOAUTH") && said.contains(SET_SECRET) && said.contains("locked"),
            "{said}"
        );
    }
}
