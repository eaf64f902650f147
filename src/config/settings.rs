//! `redline config set KEY VALUE`: which dotted keys can be set, and how a value typed on the
//! command line becomes a TOML value. The config file validates the result.

use crate::config::{Config, ConfigFile, remote_listen_refusal, validate_base_url};
use crate::error::Error;
use crate::keys::account_id::AccountId;
use crate::keys::destination;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    WholeNumber,
    /// A whole number or the word `auto`.
    NumberOrAuto,
    YesNo,
    Text,
}

const GLOBAL: &[(&str, Kind)] = &[
    ("thresholds.warn", Kind::WholeNumber),
    ("thresholds.critical", Kind::WholeNumber),
    ("poll.interval_s", Kind::WholeNumber),
    ("proxy.listen", Kind::Text),
    ("proxy.queue_max_wait_s", Kind::WholeNumber),
    ("proxy.queue_max_len", Kind::WholeNumber),
    ("proxy.retry_429", Kind::YesNo),
    ("proxy.connect_timeout_s", Kind::WholeNumber),
    ("proxy.first_byte_timeout_s", Kind::WholeNumber),
    ("proxy.idle_timeout_s", Kind::WholeNumber),
    ("proxy.header_timeout_s", Kind::WholeNumber),
    ("proxy.keep_alive_s", Kind::WholeNumber),
    ("proxy.max_connections", Kind::WholeNumber),
    ("notifications.enabled", Kind::YesNo),
    ("notifications.rotation_reminder_days", Kind::WholeNumber),
    ("history.retention_days", Kind::WholeNumber),
    ("shared.redis_url", Kind::Text),
];

/// Fields under `accounts.<id>.`; an empty text removes the field.
const PER_ACCOUNT: &[(&str, Kind)] = &[
    ("concurrency_cap", Kind::NumberOrAuto),
    ("tier", Kind::WholeNumber),
    ("label", Kind::Text),
    ("base_url", Kind::Text),
];

/// Every settable key, for help and error messages.
pub fn valid_keys() -> String {
    let globals = GLOBAL.iter().map(|(key, _)| key.to_string());
    let accounts = PER_ACCOUNT
        .iter()
        .map(|(field, _)| format!("accounts.<id>.{field}"));
    globals.chain(accounts).collect::<Vec<_>>().join(", ")
}

/// Validates and saves one setting; returns the config as saved.
pub fn set(file: &ConfigFile, key: &str, raw: &str) -> Result<Config, Error> {
    set_many(file, &[(key, raw)])
}

/// Validates and saves several settings at once (so `thresholds.warn` and
/// `thresholds.critical` can move together); a refused one saves none. Returns the config as
/// saved.
pub fn set_many(file: &ConfigFile, changes: &[(&str, &str)]) -> Result<Config, Error> {
    set_many_confirmed(file, changes, None)
}

/// [`set_many`], where a base URL may point at a host its provider does not own when
/// `confirm_host` names that host (see `keys/destination.rs`).
pub fn set_many_confirmed(
    file: &ConfigFile,
    changes: &[(&str, &str)],
    confirm_host: Option<&str>,
) -> Result<Config, Error> {
    let mut typed_changes = Vec::with_capacity(changes.len());
    for (key, raw) in changes {
        let (path, kind) = resolve(key)?;
        if *key == "proxy.listen"
            && let Some(message) = raw.trim().parse().ok().and_then(remote_listen_refusal)
        {
            let key = (*key).to_owned();
            return Err(Error::InvalidSetting { key, message });
        }
        typed_changes.push((*key, path, typed(key, kind, raw)?));
    }
    file.update(|config, edit| {
        for (key, path, value) in &typed_changes {
            if let ["accounts", id, field] = path.as_slice() {
                let account = config.account(&id.parse::<AccountId>()?)?;
                // Where the key goes: a valid URL first, then a host the provider owns (or
                // one the user confirmed).
                let url = value.as_str().filter(|url| !url.trim().is_empty());
                if let (&"base_url", Some(url)) = (field, url) {
                    validate_base_url(url).map_err(|message| Error::InvalidSetting {
                        key: (*key).to_owned(),
                        message,
                    })?;
                    destination::check(account.provider, url, confirm_host)?;
                }
            }
            edit.set(path, value.clone());
        }
        Ok(())
    })
    .map_err(|err| match err {
        // Name the setting when the file's own message does not.
        Error::InvalidChange(message)
            if typed_changes.len() == 1 && !message.contains(typed_changes[0].0) =>
        {
            Error::InvalidSetting {
                key: typed_changes[0].0.to_owned(),
                message,
            }
        }
        other => other,
    })?;
    file.load()
}

fn resolve(key: &str) -> Result<(Vec<&str>, Kind), Error> {
    let unknown = || Error::UnknownSetting {
        key: key.to_owned(),
        valid: valid_keys(),
    };
    if let Some((_, kind)) = GLOBAL.iter().find(|(k, _)| *k == key) {
        return Ok((key.split('.').collect(), *kind));
    }
    match key.split('.').collect::<Vec<_>>().as_slice() {
        ["accounts", id, field] => {
            let (_, kind) = PER_ACCOUNT
                .iter()
                .find(|(f, _)| f == field)
                .ok_or_else(unknown)?;
            Ok((vec!["accounts", id, field], *kind))
        }
        _ => Err(unknown()),
    }
}

fn typed(key: &str, kind: Kind, raw: &str) -> Result<toml_edit::Value, Error> {
    let invalid = |message: String| Error::InvalidSetting {
        key: key.to_owned(),
        message,
    };
    match kind {
        Kind::WholeNumber => raw
            .trim()
            .parse::<i64>()
            .map(Into::into)
            .map_err(|_| invalid(format!("expected a whole number, not {raw:?}"))),
        Kind::NumberOrAuto if raw.trim() == "auto" => Ok("auto".into()),
        Kind::NumberOrAuto => typed(key, Kind::WholeNumber, raw),
        Kind::YesNo => match raw.trim() {
            "true" | "yes" | "on" => Ok(true.into()),
            "false" | "no" | "off" => Ok(false.into()),
            _ => Err(invalid(format!("expected true or false, not {raw:?}"))),
        },
        Kind::Text => Ok(raw.trim().into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file() -> (tempfile::TempDir, ConfigFile) {
        let dir = tempfile::tempdir().unwrap();
        let file = ConfigFile::new(dir.path().join("config.toml"));
        (dir, file)
    }

    #[test]
    fn the_shared_redis_url_is_saved_whole_and_never_shown() {
        const SECRET: &str = "s3cret-team-password";
        let (_dir, file) = file();
        let url = format!("redis://team:{SECRET}@redis.lan:6380/1");
        let config = set(&file, "shared.redis_url", &url).unwrap();
        let saved = config.shared.redis_url.clone().unwrap();
        assert_eq!(
            saved.password(),
            Some(SECRET),
            "the file keeps it to connect with"
        );
        // What `config show` prints and the settings API serialises.
        let shown = [
            toml::to_string_pretty(&config).unwrap(),
            serde_json::to_string(&config).unwrap(),
            format!("{config:?}"),
        ];
        for shown in shown {
            assert!(!shown.contains(SECRET), "{shown}");
            assert!(
                shown.contains("redis://team:***@redis.lan:6380/1"),
                "{shown}"
            );
        }
        for bad in [
            format!("http://team:{SECRET}@redis.lan"),
            format!("redis://team:{SECRET}@redis.lan/x"),
        ] {
            let refused = set(&file, "shared.redis_url", &bad)
                .unwrap_err()
                .to_string();
            assert!(refused.starts_with("shared.redis_url"), "{refused}");
            assert!(!refused.contains(SECRET), "{refused}");
        }
        // A hand-edited file with a bad URL: the error quotes the line, masked.
        std::fs::write(
            file.path(),
            format!("[shared]\nredis_url = \"redis://u:{SECRET}@h/x\"\n"),
        )
        .unwrap();
        let refused = file.load().unwrap_err().to_string();
        assert!(!refused.contains(SECRET), "{refused}");
        let off = set(&file, "shared.redis_url", "").unwrap_or_else(|_| {
            std::fs::remove_file(file.path()).unwrap();
            set(&file, "shared.redis_url", "").unwrap()
        });
        assert_eq!(off.shared.redis_url, None, "empty turns it off");
    }

    #[test]
    fn sets_and_validates_global_keys() {
        let (_dir, file) = file();
        assert_eq!(
            set(&file, "thresholds.warn", "70").unwrap().thresholds.warn,
            70
        );
        assert_eq!(
            set(&file, "poll.interval_s", "120")
                .unwrap()
                .poll
                .interval_s,
            120
        );
        assert!(
            !set(&file, "notifications.enabled", "off")
                .unwrap()
                .notifications
                .enabled
        );
        let listen = set(&file, "proxy.listen", "127.0.0.1:5000")
            .unwrap()
            .proxy
            .listen;
        assert_eq!(listen.port(), 5000);
        let err = set(&file, "proxy.listen", "0.0.0.0:4290")
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with(
                "proxy.listen: refusing to listen on 0.0.0.0:4290: it is not a loopback"
            ),
            "{err}"
        );
        assert!(err.contains("--allow-remote"), "{err}");
        let kept = file.load().unwrap().proxy.listen;
        assert_eq!(kept.port(), 5000, "the refused address is not saved");

        let err = set(&file, "poll.interval_s", "5").unwrap_err().to_string();
        assert!(
            err.starts_with("poll.interval_s: must be a whole number from 15"),
            "{err}"
        );
        let err = set(&file, "thresholds.warn", "lots")
            .unwrap_err()
            .to_string();
        assert!(err.contains("expected a whole number"), "{err}");
        let err = set(&file, "thresholds.warn", "99").unwrap_err().to_string();
        assert!(err.contains("must be below thresholds.critical"), "{err}");
        assert_eq!(
            file.load().unwrap().thresholds.warn,
            70,
            "a refused value changes nothing"
        );
    }

    #[test]
    fn several_settings_move_together_or_not_at_all() {
        let (_dir, file) = file();
        // Alone, warn = 50 then critical = 60 would pass, but critical = 60 first would not.
        let config = set_many(
            &file,
            &[("thresholds.critical", "60"), ("thresholds.warn", "50")],
        )
        .unwrap();
        assert_eq!(
            (config.thresholds.warn, config.thresholds.critical),
            (50, 60)
        );
        let err = set_many(
            &file,
            &[("poll.interval_s", "120"), ("thresholds.warn", "70")],
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("must be below thresholds.critical"), "{err}");
        assert_eq!(
            file.load().unwrap().poll.interval_s,
            60,
            "nothing was saved"
        );
    }

    #[test]
    fn history_retention_is_settable_within_bounds() {
        let (_dir, file) = file();
        assert_eq!(file.load().unwrap().history.retention_days, 30);
        let config = set(&file, "history.retention_days", "7").unwrap();
        assert_eq!(config.history.retention_days, 7);
        let err = set(&file, "history.retention_days", "0")
            .unwrap_err()
            .to_string();
        assert!(err.contains("from 1 to 3650"), "{err}");
        assert_eq!(file.load().unwrap().history.retention_days, 7);
    }

    #[test]
    fn unknown_keys_list_the_valid_ones() {
        let (_dir, file) = file();
        for key in [
            "thresholds",
            "poll.interval",
            "accounts.x.secret",
            "accounts.x",
        ] {
            let err = set(&file, key, "1").unwrap_err().to_string();
            assert!(
                err.contains("valid keys are: thresholds.warn"),
                "{key}: {err}"
            );
            assert!(err.contains("accounts.<id>.concurrency_cap"), "{err}");
        }
    }

    #[test]
    fn account_keys_need_an_existing_account() {
        let (_dir, file) = file();
        let err = set(&file, "accounts.nobody.concurrency_cap", "30")
            .unwrap_err()
            .to_string();
        assert!(err.contains("no account named nobody"), "{err}");
        assert!(!file.path().exists());
    }

    #[test]
    fn a_label_cannot_carry_escape_sequences_or_direction_overrides() {
        let (_dir, file) = file();
        std::fs::write(file.path(), "[accounts.kimi]\nprovider = \"kimi-code\"\n").unwrap();
        for bad in ["red\u{1b}[31mline", "main\u{202E}txt.exe", "two\nlines"] {
            let err = set(&file, "accounts.kimi.label", bad)
                .unwrap_err()
                .to_string();
            assert!(
                err.contains("a label cannot hold the character U+"),
                "{err}"
            );
        }
        let label = |file: &ConfigFile| {
            file.load()
                .unwrap()
                .accounts
                .values()
                .next()
                .unwrap()
                .label
                .clone()
        };
        assert_eq!(label(&file), None, "nothing refused was saved");
        set(&file, "accounts.kimi.label", "Kimi — work ✓").unwrap();
        assert_eq!(label(&file).as_deref(), Some("Kimi — work ✓"));
    }

    #[test]
    fn a_base_url_elsewhere_needs_https_and_that_host_confirmed() {
        let (_dir, file) = file();
        std::fs::write(file.path(), "[accounts.kimi]\nprovider = \"kimi-code\"\n").unwrap();
        let key = "accounts.kimi.base_url";
        let base = |file: &ConfigFile| {
            file.load()
                .unwrap()
                .accounts
                .values()
                .next()
                .unwrap()
                .base_url
                .clone()
        };

        let err = set(&file, key, "https://gateway.example/v1").unwrap_err();
        assert!(
            matches!(err, Error::HostNotConfirmed { ref host, .. } if host == "gateway.example"),
            "{err}"
        );
        let err = set_many_confirmed(
            &file,
            &[(key, "https://gateway.example/v1")],
            Some("other.example"),
        )
        .unwrap_err();
        assert!(matches!(err, Error::HostNotConfirmed { .. }), "{err}");
        let err = set_many_confirmed(
            &file,
            &[(key, "http://gateway.example/v1")],
            Some("gateway.example"),
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.starts_with("accounts.kimi.base_url: ") && err.contains("https://"),
            "{err}"
        );
        assert_eq!(base(&file), None, "nothing refused was saved");

        set_many_confirmed(
            &file,
            &[(key, "https://gateway.example/v1")],
            Some("gateway.example"),
        )
        .unwrap();
        assert_eq!(base(&file).as_deref(), Some("https://gateway.example/v1"));
        // The provider's own hosts, loopback, and removing the URL need no confirmation.
        for url in [
            "https://api.kimi.com/coding/v1",
            "http://127.0.0.1:4301/coding/v1",
            "",
        ] {
            set(&file, key, url).unwrap();
        }
        assert_eq!(base(&file), None);
    }
}
