//! Account ids: the names a user gives their keys (`kimi-main`), used in the CLI, the config
//! file, keyring entry names and, later, the proxy's URL paths.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Names that would collide with the local HTTP routes (`/api`, `/metrics`, `/ui`, `/healthz`).
pub const RESERVED_IDS: &[&str] = &["api", "metrics", "ui", "healthz"];

const MAX_LEN: usize = 40;

/// A validated account id: 1 to 40 characters of lowercase letters, digits and `-`, starting
/// with a letter or digit, not ending with `-`, and not a reserved route name.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct AccountId(String);

impl AccountId {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid account id {id:?}: {why}")]
pub struct InvalidAccountId {
    id: String,
    why: &'static str,
}

impl FromStr for AccountId {
    type Err = InvalidAccountId;

    fn from_str(id: &str) -> Result<Self, Self::Err> {
        let why = if id.is_empty() {
            Some("an id cannot be empty")
        } else if id.len() > MAX_LEN {
            Some("use at most 40 characters")
        } else if !id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            Some("use only lowercase letters, digits and '-', e.g. kimi-main")
        } else if id.starts_with('-') || id.ends_with('-') {
            Some("an id cannot start or end with '-'")
        } else if RESERVED_IDS.contains(&id) {
            Some("api, metrics, ui and healthz are reserved for Redline's own routes")
        } else {
            None
        };
        match why {
            Some(why) => Err(InvalidAccountId {
                id: id.chars().take(60).collect(),
                why,
            }),
            None => Ok(AccountId(id.to_owned())),
        }
    }
}

impl TryFrom<String> for AccountId {
    type Error = InvalidAccountId;
    fn try_from(id: String) -> Result<Self, Self::Error> {
        id.parse()
    }
}

impl From<AccountId> for String {
    fn from(id: AccountId) -> String {
        id.0
    }
}

impl fmt::Display for AccountId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_simple_ids() {
        for id in ["kimi-main", "openai2", "a", "x-1-y"] {
            assert_eq!(id.parse::<AccountId>().unwrap().as_str(), id);
        }
    }

    #[test]
    fn refuses_bad_ids_with_a_reason() {
        let cases = [
            ("", "empty"),
            ("Kimi", "lowercase"),
            ("kimi_main", "lowercase"),
            ("kimi main", "lowercase"),
            ("-kimi", "start or end"),
            ("kimi-", "start or end"),
            ("api", "reserved"),
            ("healthz", "reserved"),
            ("../etc", "lowercase"),
        ];
        for (id, expected) in cases {
            let err = id.parse::<AccountId>().unwrap_err().to_string();
            assert!(err.contains(expected), "{id:?}: {err}");
        }
        assert!("a".repeat(41).parse::<AccountId>().is_err());
    }
}
