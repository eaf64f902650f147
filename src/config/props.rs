//! Properties of config.toml (src/props.rs says how they run): any valid config reads back
//! as itself, edits through `ConfigFile::update` keep the user's comments and give exactly the
//! accounts put, no text makes the parser panic, and a key pasted into the file never shows
//! in the error that names the bad line.

use super::{
    Account, ConcurrencyCap, Config, ConfigFile, History, Notifications, Poll, Proxy, TEMPLATE,
    Thresholds, is_unsafe_text, validate_base_url,
};
use crate::keys::account_id::AccountId;
use crate::props::{api_key, assert_no_key, config};
use crate::providers::ProviderId;
use jiff::Timestamp;
use proptest::prelude::*;
use std::collections::BTreeMap;
use std::net::SocketAddr;

fn account_id() -> impl Strategy<Value = AccountId> {
    "[a-z0-9]([a-z0-9-]{0,18}[a-z0-9])?".prop_filter_map("a valid id", |id| id.parse().ok())
}

fn timestamp() -> impl Strategy<Value = Timestamp> {
    (0i64..4_000_000_000, 0i32..1_000_000_000)
        .prop_map(|(secs, nanos)| Timestamp::new(secs, nanos).expect("in range"))
}

fn text() -> impl Strategy<Value = String> {
    "\\PC{0,40}".prop_filter("printable", |t| !t.chars().any(is_unsafe_text))
}

fn base_url() -> impl Strategy<Value = String> {
    prop_oneof![
        "https://[a-z]{1,10}\\.[a-z]{2,3}(/[a-z0-9]{1,8}){0,2}/?",
        "http://(127\\.0\\.0\\.1|localhost|\\[::1\\]):[1-9][0-9]{1,4}(/[a-z]{1,6}){0,2}",
    ]
    .prop_filter_map("a valid base URL", |url| validate_base_url(&url).ok())
}

fn account() -> impl Strategy<Value = Account> {
    let cap = prop_oneof![
        Just(ConcurrencyCap::Off),
        Just(ConcurrencyCap::Auto),
        (1u64..=100_000).prop_map(ConcurrencyCap::Limit),
    ];
    (
        (
            proptest::sample::select(&ProviderId::ALL[..]),
            proptest::option::of(text()),
            proptest::option::of(base_url()),
            cap,
            proptest::option::of(0u64..=5),
            proptest::option::of("[a-z]{2,4}-…[A-Za-z0-9]{4}"),
        ),
        (
            proptest::option::of(timestamp()),
            proptest::option::of(timestamp()),
            proptest::option::of("…[A-Za-z0-9]{4}"),
            proptest::option::of(timestamp()),
            proptest::option::of(timestamp()),
            proptest::option::of(any::<bool>()),
            proptest::option::of(text()),
        ),
    )
        .prop_map(
            |(
                (provider, label, base_url, concurrency_cap, tier, fingerprint),
                (
                    created_at,
                    rotated_at,
                    previous_fingerprint,
                    previous_since,
                    last_test_at,
                    last_test_ok,
                    last_test_message,
                ),
            )| Account {
                provider,
                label,
                base_url,
                concurrency_cap,
                tier,
                fingerprint,
                created_at,
                rotated_at,
                previous_fingerprint,
                previous_since,
                last_test_at,
                last_test_ok,
                last_test_message,
            },
        )
}

fn any_config() -> impl Strategy<Value = Config> {
    let thresholds = (1u64..100)
        .prop_flat_map(|warn| (Just(warn), warn + 1..=100))
        .prop_map(|(warn, critical)| Thresholds { warn, critical });
    let listen =
        (any::<[u8; 4]>(), any::<u16>()).prop_map(|(ip, port)| SocketAddr::from((ip, port)));
    let proxy = (
        listen,
        1u64..=3600,
        0u64..=100_000,
        any::<bool>(),
        1u64..=300,
        5u64..=3600,
        5u64..=3600,
    )
        .prop_map(
            |(listen, wait, len, retry_429, connect, first_byte, idle)| Proxy {
                listen,
                queue_max_wait_s: wait,
                queue_max_len: len,
                retry_429,
                connect_timeout_s: connect,
                first_byte_timeout_s: first_byte,
                idle_timeout_s: idle,
                header_timeout_s: 10,
                keep_alive_s: 75,
                max_connections: 1024,
            },
        );
    (
        thresholds,
        15u64..=86400,
        proxy,
        (any::<bool>(), 0u64..=3650),
        1u64..=3650,
        proptest::collection::btree_map(account_id(), account(), 0..4),
    )
        .prop_map(
            |(thresholds, interval_s, proxy, (enabled, days), retention_days, accounts)| Config {
                thresholds,
                poll: Poll { interval_s },
                proxy,
                notifications: Notifications {
                    enabled,
                    rotation_reminder_days: days,
                },
                history: History { retention_days },
                shared: Default::default(),
                accounts,
            },
        )
}

/// One change to the accounts: put this account, or remove that id.
#[derive(Clone, Debug)]
enum Change {
    Put(AccountId, Box<Account>),
    Remove(AccountId),
}

fn change() -> impl Strategy<Value = Change> {
    // Few ids, so that puts replace and removes find what was put.
    let id = proptest::sample::select(&["kimi-main", "oai", "a1", "z-z"][..])
        .prop_map(|id| id.parse::<AccountId>().expect("valid"));
    prop_oneof![
        3 => (id.clone(), account()).prop_map(|(id, account)| Change::Put(id, Box::new(account))),
        1 => id.prop_map(Change::Remove),
    ]
}

/// Ways a key ends up where it does not belong in config.toml, each making the file invalid.
fn broken_with_key(key: String) -> impl Strategy<Value = String> {
    let lines = [
        format!("warn = {key}"),
        format!("key = {key}"),
        format!("label = \"{key}"),
        key.clone(),
        format!("api_key = \"{key}\""),
        format!("interval_s = \"{key}\""),
        format!("# padding padding padding padding padding padding padding padding {key} x = ="),
        format!("label = 'padding padding padding padding padding padding padding {key}' x"),
    ];
    (
        proptest::sample::select(lines.to_vec()),
        0usize..40,
        "[a-z ]{0,70}",
    )
        .prop_map(|(line, at, pad)| {
            let mut lines: Vec<String> = TEMPLATE.lines().map(str::to_owned).collect();
            let at = at % (lines.len() + 1);
            lines.insert(at, format!("{pad}{line}"));
            lines.join("\n")
        })
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn any_valid_config_reads_back_as_itself(config in any_config()) {
        let text = toml::to_string(&config).expect("a config serialises");
        prop_assert_eq!(Config::parse(&text), Ok(config), "{}", text);
    }

    #[test]
    fn edits_give_exactly_the_accounts_put_and_keep_the_comments(changes in proptest::collection::vec(change(), 1..8)) {
        let dir = tempfile::tempdir().expect("a temp dir");
        let file = ConfigFile::new(dir.path().join("config.toml"));
        std::fs::write(file.path(), TEMPLATE).expect("written");
        let mut expected = BTreeMap::new();
        for change in &changes {
            file.update(|_, edit| {
                match change {
                    Change::Put(id, account) => edit.put_account(id, account)?,
                    Change::Remove(id) => edit.remove_account(id),
                }
                Ok(())
            })
            .expect("a valid change is saved");
            match change {
                Change::Put(id, account) => expected.insert(id.clone(), (**account).clone()),
                Change::Remove(id) => expected.remove(id),
            };
        }
        let loaded = file.load().expect("reads back");
        prop_assert_eq!(&loaded.accounts, &expected);
        let text = std::fs::read_to_string(file.path()).expect("read");
        for comment in TEMPLATE.lines().filter(|l| l.starts_with('#')) {
            prop_assert!(text.contains(comment), "lost {:?}:\n{}", comment, text);
        }
    }

    #[test]
    fn config_set_saves_a_valid_value_or_nothing_at_all(
        key in prop_oneof![
            proptest::sample::select(&[
                "thresholds.warn", "thresholds.critical", "poll.interval_s", "proxy.listen",
                "proxy.queue_max_wait_s", "proxy.queue_max_len", "proxy.retry_429",
                "proxy.connect_timeout_s", "proxy.first_byte_timeout_s", "proxy.idle_timeout_s",
                "notifications.enabled", "notifications.rotation_reminder_days",
                "history.retention_days", "accounts.kimi-main.concurrency_cap",
                "accounts.kimi-main.tier", "accounts.kimi-main.label", "accounts.kimi-main.base_url",
                "accounts.other.label", "accounts.kimi-main.provider",
            ][..]).prop_map(str::to_owned),
            "[a-z_.-]{0,30}",
        ],
        raw in prop_oneof![
            "-?[0-9]{1,6}",
            proptest::sample::select(&["auto", "yes", "no", "true", "", "127.0.0.1:0", "0.0.0.0:80", "https://api.moonshot.cn/v1", "http://10.0.0.1/v1"][..]).prop_map(str::to_owned),
            "\\PC{0,30}",
        ],
    ) {
        let dir = tempfile::tempdir().expect("a temp dir");
        let file = ConfigFile::new(dir.path().join("config.toml"));
        let before = format!(
            "{TEMPLATE}\n[accounts.kimi-main]\nprovider = \"kimi-code\"\n"
        );
        std::fs::write(file.path(), &before).expect("written");
        match super::settings::set(&file, &key, &raw) {
            Ok(saved) => {
                prop_assert_eq!(file.load().expect("reads back"), saved);
                let text = std::fs::read_to_string(file.path()).expect("read");
                for comment in TEMPLATE.lines().filter(|l| l.starts_with('#')) {
                    prop_assert!(text.contains(comment), "lost {:?}", comment);
                }
            }
            Err(_) => prop_assert_eq!(
                std::fs::read_to_string(file.path()).expect("read"),
                before,
                "a refused setting changes nothing"
            ),
        }
    }

    #[test]
    fn no_text_makes_the_parser_panic(text in "\\PC{0,200}") {
        let _ = Config::parse(&text);
    }

    #[test]
    fn no_config_like_text_makes_the_parser_panic(
        lines in proptest::collection::vec(
            prop_oneof![
                "\\[(thresholds|poll|proxy|notifications|history|accounts\\.[a-z-]{1,6})\\]",
                "(warn|critical|interval_s|listen|queue_max_len|retry_429|provider|label|base_url|concurrency_cap|tier|created_at) = (-?[0-9]{1,20}|\"[ -~]{0,20}\"|true|auto|[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z|\\[\\]|\\{\\})",
                "[ -~]{0,40}",
            ],
            0..20,
        )
    ) {
        let _ = Config::parse(&lines.join("\n"));
    }

    #[test]
    fn a_key_in_a_broken_config_never_shows_in_the_error(
        (key, text) in api_key().prop_flat_map(|key| (Just(key.clone()), broken_with_key(key))),
    ) {
        let dir = tempfile::tempdir().expect("a temp dir");
        let file = ConfigFile::new(dir.path().join("config.toml"));
        std::fs::write(file.path(), &text).expect("written");
        if let Err(err) = file.load() {
            assert_no_key(&err.to_string(), &key);
        }
    }
}
