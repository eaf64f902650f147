//! The tray menu as data: one line per account, then every action (on Linux the menu is the
//! only way to act from the tray, so everything is here). The host turns it into native items.

use crate::desktop::tray_icon::throttling_now;
use crate::durations::time_until;
use crate::status::health::{Level, concurrency_ceiling};
use crate::status::model::{AccountStatus, KeyHealth, Status};
use crate::status::render::{count, describe_shared, has_traffic};
use jiff::civil::Time;
use jiff::{Timestamp, ZonedDateTime};

/// What the menu needs to know besides the status.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MenuState {
    /// Notifications are held back until then.
    pub paused_until: Option<Timestamp>,
    pub proxy_on: bool,
    pub start_at_login: bool,
}

/// Every action of the menu. The id is what the native item carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    OpenDashboard,
    RefreshNow,
    PauseHour,
    PauseUntilTomorrow,
    ResumeNotifications,
    ToggleProxy,
    /// Opens the dashboard on its Tools view.
    ConnectTools,
    CopySetup,
    ToggleStartAtLogin,
    Quit,
}

impl Action {
    pub const ALL: [Action; 10] = [
        Action::OpenDashboard,
        Action::RefreshNow,
        Action::PauseHour,
        Action::PauseUntilTomorrow,
        Action::ResumeNotifications,
        Action::ToggleProxy,
        Action::ConnectTools,
        Action::CopySetup,
        Action::ToggleStartAtLogin,
        Action::Quit,
    ];

    pub fn id(self) -> &'static str {
        match self {
            Action::OpenDashboard => "open",
            Action::RefreshNow => "refresh",
            Action::PauseHour => "pause-hour",
            Action::PauseUntilTomorrow => "pause-tomorrow",
            Action::ResumeNotifications => "resume",
            Action::ToggleProxy => "proxy",
            Action::ConnectTools => "connect-tools",
            Action::CopySetup => "copy-setup",
            Action::ToggleStartAtLogin => "autostart",
            Action::Quit => "quit",
        }
    }

    pub fn from_id(id: &str) -> Option<Action> {
        Action::ALL.into_iter().find(|a| a.id() == id)
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Entry {
    /// Text that does nothing when clicked (account lines, the demo note).
    Info(String),
    Separator,
    Item {
        action: Action,
        label: String,
        enabled: bool,
    },
    Check {
        action: Action,
        label: String,
        checked: bool,
    },
    Submenu {
        label: String,
        entries: Vec<Entry>,
    },
}

/// Whether two menus hold the same items in the same places, differing only in texts and
/// states. The host then updates the items it shows in place: a rebuilt menu gets new item
/// ids, and a click on an item of the old menu (the menu was open, or the click was in flight)
/// would be lost.
pub fn same_shape(a: &[Entry], b: &[Entry]) -> bool {
    a.len() == b.len()
        && a.iter().zip(b).all(|pair| match pair {
            (Entry::Info(_), Entry::Info(_)) | (Entry::Separator, Entry::Separator) => true,
            (Entry::Item { action: x, .. }, Entry::Item { action: y, .. })
            | (Entry::Check { action: x, .. }, Entry::Check { action: y, .. }) => x == y,
            (Entry::Submenu { entries: x, .. }, Entry::Submenu { entries: y, .. }) => {
                same_shape(x, y)
            }
            _ => false,
        })
}

/// `Kimi Code — 5h 38% left, resets 1h 12m — 2/2 in flight, 4 queued, tokens today 30.5k in /
/// 8.1k out — 3 throttles`. The traffic is in the account's one line, so the menu keeps its
/// shape (`same_shape`) when traffic starts or stops.
pub fn account_line(account: &AccountStatus, now: Timestamp) -> String {
    let name = account.label.as_deref().unwrap_or(&account.id);
    let mut parts = vec![name.to_owned()];
    match account.busiest_window() {
        Some(window) => {
            let left = (1.0 - window.used_ratio.unwrap_or(0.0)).max(0.0) * 100.0;
            let mut text = format!("{} {left:.0}% left", window.kind.short_label());
            if let Some(reset) = time_until(window.resets_at, now) {
                text.push_str(&format!(", resets {reset}"));
            }
            parts.push(text);
        }
        None if account.level == Level::Unknown => parts.push("no data yet".into()),
        None => {}
    }
    if let Some(traffic) = traffic_part(account) {
        parts.push(traffic);
    }
    if let Some(shared) = &account.shared {
        parts.push(format!(
            "shared: {}",
            describe_shared(shared, account.concurrency.cap)
        ));
    }
    match account.throttles.recent {
        0 => {}
        1 => parts.push("1 throttle".into()),
        n => parts.push(format!("{n} throttles")),
    }
    if account.key.health == KeyHealth::Rejected {
        parts.push("key rejected".into());
    } else if throttling_now(account) {
        parts.push("throttled now".into());
    }
    parts.join(" — ")
}

/// `2/2 in flight, 4 queued, tokens today 30.5k in / 8.1k out`: in flight against the cap in
/// force (or the provider's limit), while the proxy has seen traffic.
fn traffic_part(account: &AccountStatus) -> Option<String> {
    let traffic = account.traffic.as_ref().filter(|t| has_traffic(t))?;
    let mut parts = vec![match concurrency_ceiling(traffic.cap, traffic.limit) {
        Some(ceiling) => format!("{}/{ceiling} in flight", traffic.figures.in_flight),
        None => format!("{} in flight", traffic.figures.in_flight),
    }];
    if traffic.figures.queued > 0 {
        parts.push(format!("{} queued", traffic.figures.queued));
    }
    let today = traffic.figures.tokens.today;
    if !today.is_zero() {
        parts.push(format!(
            "tokens today {} in / {} out",
            count(today.input),
            count(today.output)
        ));
    }
    Some(parts.join(", "))
}

/// The whole menu for a status.
pub fn menu(status: &Status, state: MenuState, now: Timestamp) -> Vec<Entry> {
    let mut entries: Vec<Entry> = if status.accounts.is_empty() {
        vec![Entry::Info(
            "No keys yet: open the dashboard to add one".into(),
        )]
    } else {
        status
            .accounts
            .iter()
            .map(|a| Entry::Info(account_line(a, now)))
            .collect()
    };
    entries.push(Entry::Separator);
    let item = |action, label: &str| Entry::Item {
        action,
        label: label.into(),
        enabled: true,
    };
    entries.push(item(Action::OpenDashboard, "Open dashboard"));
    entries.push(item(Action::RefreshNow, "Refresh now"));
    let paused = state.paused_until.filter(|until| *until > now);
    entries.push(Entry::Submenu {
        label: match paused.and_then(|until| time_until(Some(until), now)) {
            Some(left) => format!("Notifications paused ({left} left)"),
            None => "Pause notifications".into(),
        },
        entries: vec![
            item(Action::PauseHour, "For 1 hour"),
            item(Action::PauseUntilTomorrow, "Until tomorrow morning"),
            Entry::Item {
                action: Action::ResumeNotifications,
                label: "Resume notifications".into(),
                enabled: paused.is_some(),
            },
        ],
    });
    entries.push(Entry::Check {
        action: Action::ToggleProxy,
        label: "Proxy on".into(),
        checked: state.proxy_on,
    });
    entries.push(item(Action::ConnectTools, "Connect tools…"));
    entries.push(item(Action::CopySetup, "Copy setup for tools"));
    entries.push(Entry::Separator);
    entries.push(Entry::Check {
        action: Action::ToggleStartAtLogin,
        label: "Start at login".into(),
        checked: state.start_at_login,
    });
    entries.push(item(Action::Quit, "Quit Redline"));
    entries
}

/// Until when "Pause notifications" holds them back: an hour from now, or 08:00 tomorrow in
/// the user's time zone.
pub fn pause_until(action: Action, now: &ZonedDateTime) -> Option<Timestamp> {
    match action {
        Action::PauseHour => Some(now.timestamp() + jiff::SignedDuration::from_hours(1)),
        Action::PauseUntilTomorrow => {
            let tomorrow = now.date().tomorrow().ok()?;
            let morning = tomorrow.to_datetime(Time::constant(8, 0, 0, 0));
            Some(
                morning
                    .to_zoned_datetime(now.time_zone().clone())
                    .ok()?
                    .timestamp(),
            )
        }
        _ => None,
    }
}

/// The text "Copy setup for tools" puts on the clipboard: what each tool needs for every
/// account (`redline env ID`: a commented block per tool), each under a comment naming it.
pub fn setup_text(sections: &[(String, String)]) -> String {
    if sections.is_empty() {
        return "# No keys configured yet: add one in the Redline dashboard.\n".into();
    }
    sections
        .iter()
        .map(|(id, env)| format!("# {id}\n{}\n", env.trim_end()))
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::desktop::tray_icon::tests::{account, now, status};
    use serde_json::json;

    fn with_throttles(mut account: serde_json::Value, recent: usize) -> serde_json::Value {
        account["throttles"]["recent"] = json!(recent);
        account
    }

    #[test]
    fn menus_differing_only_in_texts_and_states_have_the_same_shape() {
        let now = now();
        let calm = menu(
            &status("ok", vec![account("kimi", "ok", Some(20.0), &[])]),
            MenuState::default(),
            now,
        );
        let busy = menu(
            &status(
                "critical",
                vec![with_throttles(
                    account("kimi", "critical", Some(90.0), &[]),
                    3,
                )],
            ),
            MenuState {
                proxy_on: true,
                ..MenuState::default()
            },
            now,
        );
        assert_ne!(calm, busy);
        assert!(same_shape(&calm, &busy));
        let two = menu(
            &status(
                "ok",
                vec![
                    account("kimi", "ok", Some(20.0), &[]),
                    account("oai", "ok", Some(10.0), &[]),
                ],
            ),
            MenuState::default(),
            now,
        );
        assert!(!same_shape(&calm, &two), "an account more is another menu");
        let mut other_action = calm.clone();
        let item = other_action
            .iter_mut()
            .find(|e| matches!(e, Entry::Item { .. }))
            .unwrap();
        let Entry::Item { action, .. } = item else {
            unreachable!()
        };
        *action = Action::Quit;
        assert!(!same_shape(&calm, &other_action));
    }

    #[test]
    fn an_account_line_says_what_is_left_when_it_resets_and_the_throttles() {
        let s = status(
            "warn",
            vec![with_throttles(account("kimi", "warn", Some(62.0), &[]), 3)],
        );
        assert_eq!(
            account_line(&s.accounts[0], now()),
            "Kimi Code — 5h 38% left, resets 1h 12m — 3 throttles"
        );
    }

    fn with_traffic(
        mut account: serde_json::Value,
        in_flight: u64,
        queued: u64,
    ) -> serde_json::Value {
        let counts = json!({"last_5m": 3, "last_hour": 40});
        account["traffic"] = json!({
            "in_flight": in_flight, "peak": 3, "cap": 2, "limit": 30, "queued": queued,
            "requests": counts, "errors": counts, "cancelled": counts,
            "queue_wait_ms": {"p50": null, "p95": null},
            "tokens": {"last_5h": {"input": 10, "output": 20},
                       "today": {"input": 30_500, "output": 8_100}},
            "first_token_ms_p50": null, "output_tokens_per_s_p50": null, "tools": []
        });
        account
    }

    #[test]
    fn an_account_line_carries_in_flight_against_the_cap_queued_and_tokens_today() {
        let busy = status(
            "warn",
            vec![with_traffic(account("kimi", "warn", Some(62.0), &[]), 2, 4)],
        );
        assert_eq!(
            account_line(&busy.accounts[0], now()),
            "Kimi Code — 5h 38% left, resets 1h 12m — 2/2 in flight, 4 queued, tokens today 30.5k in / 8.1k out"
        );
        let calm = status(
            "ok",
            vec![with_traffic(account("kimi", "ok", Some(20.0), &[]), 0, 0)],
        );
        assert_eq!(
            account_line(&calm.accounts[0], now()),
            "Kimi Code — 5h 80% left, resets 1h 12m — 0/2 in flight, tokens today 30.5k in / 8.1k out"
        );
        // Traffic starting or stopping changes texts only: the host updates the menu in place.
        let quiet = status("ok", vec![account("kimi", "ok", Some(20.0), &[])]);
        assert!(!account_line(&quiet.accounts[0], now()).contains("in flight"));
        let state = MenuState::default();
        assert!(same_shape(
            &menu(&quiet, state, now()),
            &menu(&busy, state, now())
        ));
    }

    #[test]
    fn a_shared_cap_puts_this_machine_beside_the_group_in_the_same_line() {
        let mut shared = with_traffic(account("kimi", "warn", Some(62.0), &[]), 2, 1);
        shared["concurrency"]["cap"] = json!(8);
        shared["shared"] = json!({
            "machine": "laptop", "state": "shared", "here_in_flight": 2, "here_queued": 1,
            "group_in_flight": 8, "group_queued": 5, "machines": 3
        });
        let s = status("warn", vec![shared.clone()]);
        assert_eq!(
            account_line(&s.accounts[0], now()),
            "Kimi Code — 5h 38% left, resets 1h 12m — 2/2 in flight, 1 queued, tokens today 30.5k in / 8.1k out \
             — shared: here 2 in flight, 1 queued · whole group 8/8 in flight, 5 queued, 3 machines"
        );
        shared["shared"]["state"] = json!("unavailable");
        let down = status("warn", vec![shared]);
        assert!(
            account_line(&down.accounts[0], now())
                .ends_with("— shared: here 2 in flight, 1 queued · whole group unknown (server out of reach: this machine's cap alone)"),
        );
        let state = MenuState::default();
        assert!(same_shape(
            &menu(&s, state, now()),
            &menu(&down, state, now())
        ));
    }

    #[test]
    fn account_lines_cover_no_data_one_throttle_and_throttling_now() {
        let s = status(
            "critical",
            vec![
                account("a", "unknown", None, &[]),
                with_throttles(
                    account("b", "critical", Some(100.0), &[("throttling_now", "x")]),
                    1,
                ),
            ],
        );
        assert_eq!(
            account_line(&s.accounts[0], now()),
            "Kimi Code — no data yet"
        );
        assert_eq!(
            account_line(&s.accounts[1], now()),
            "Kimi Code — 5h 0% left, resets 1h 12m — 1 throttle — throttled now"
        );
        let mut rejected = account("c", "critical", None, &[]);
        rejected["key"]["health"] = json!("rejected");
        rejected["label"] = json!(null);
        let s = status("critical", vec![rejected]);
        assert_eq!(account_line(&s.accounts[0], now()), "c — key rejected");
    }

    #[test]
    fn the_menu_lists_accounts_then_every_action() {
        let s = status(
            "ok",
            vec![
                account("a", "ok", Some(10.0), &[]),
                account("b", "ok", Some(20.0), &[]),
            ],
        );
        let entries = menu(
            &s,
            MenuState {
                proxy_on: true,
                ..MenuState::default()
            },
            now(),
        );
        assert!(matches!(&entries[0], Entry::Info(line) if line.contains("90% left")));
        assert!(matches!(&entries[1], Entry::Info(line) if line.contains("80% left")));
        assert_eq!(entries[2], Entry::Separator);
        let mut actions = Vec::new();
        fn collect(entries: &[Entry], into: &mut Vec<Action>) {
            for e in entries {
                match e {
                    Entry::Item { action, .. } | Entry::Check { action, .. } => into.push(*action),
                    Entry::Submenu { entries, .. } => collect(entries, into),
                    _ => {}
                }
            }
        }
        collect(&entries, &mut actions);
        assert_eq!(actions, Action::ALL, "every action, in order");
        assert!(entries.contains(&Entry::Item {
            action: Action::ConnectTools,
            label: "Connect tools…".into(),
            enabled: true
        }));
        assert!(entries.contains(&Entry::Check {
            action: Action::ToggleProxy,
            label: "Proxy on".into(),
            checked: true
        }));
        assert!(entries.contains(&Entry::Check {
            action: Action::ToggleStartAtLogin,
            label: "Start at login".into(),
            checked: false
        }));
        for action in Action::ALL {
            assert_eq!(Action::from_id(action.id()), Some(action));
        }
        assert_eq!(Action::from_id("nope"), None);
    }

    #[test]
    fn resume_is_offered_only_while_paused() {
        let s = status("ok", vec![]);
        let submenu = |state| {
            menu(&s, state, now())
                .into_iter()
                .find_map(|e| match e {
                    Entry::Submenu { label, entries } => Some((label, entries)),
                    _ => None,
                })
                .unwrap()
        };
        let (label, entries) = submenu(MenuState::default());
        assert_eq!(label, "Pause notifications");
        assert!(matches!(entries[2], Entry::Item { enabled: false, .. }));
        let paused = MenuState {
            paused_until: Some(now() + jiff::SignedDuration::from_mins(42)),
            ..MenuState::default()
        };
        let (label, entries) = submenu(paused);
        assert_eq!(label, "Notifications paused (42m left)");
        assert!(matches!(entries[2], Entry::Item { enabled: true, .. }));
        // A pause that has run out is no pause.
        let over = MenuState {
            paused_until: Some(now()),
            ..MenuState::default()
        };
        assert_eq!(submenu(over).0, "Pause notifications");
        assert!(
            matches!(&menu(&s, MenuState::default(), now())[0], Entry::Info(t) if t.contains("No keys yet"))
        );
    }

    #[test]
    fn pauses_last_an_hour_or_until_eight_tomorrow_local_time() {
        let now: ZonedDateTime = "2026-11-29T22:30:00+01:00[Europe/Paris]".parse().unwrap();
        assert_eq!(
            pause_until(Action::PauseHour, &now),
            Some("2026-11-29T22:30:00Z".parse().unwrap())
        );
        assert_eq!(
            pause_until(Action::PauseUntilTomorrow, &now),
            Some("2026-11-30T07:00:00Z".parse().unwrap())
        );
        assert_eq!(pause_until(Action::Quit, &now), None);
    }

    #[test]
    fn setup_text_names_each_account() {
        let text = setup_text(&[
            ("kimi".into(), "export A=1\n".into()),
            ("claude".into(), "export B=2".into()),
        ]);
        assert_eq!(text, "# kimi\nexport A=1\n\n# claude\nexport B=2\n");
        assert!(setup_text(&[]).contains("No keys"));
    }
}
