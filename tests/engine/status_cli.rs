//! `redline status` against a fake of every provider: the windows, levels and reasons it
//! reports, and how it copes with odd answers. Keys go through the real Secret Service.

use crate::support::{Daemon, KimiAccount, Run, Sandbox, closed_origin, fake, http, process};
use redline::fakes::{self, Behaviour};
use redline::providers::{ProviderId, Shows};
use serde_json::Value;
use std::process::Command;

const KEY: &str = "sk-test-StatusKeyAbcdefghijklmnop4242";

fn account<'a>(status: &'a Value, id: &str) -> &'a Value {
    status["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["id"] == id)
        .unwrap_or_else(|| panic!("{id} in {status}"))
}

fn busiest(account: &Value) -> f64 {
    account["windows"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|w| w["used_ratio"].as_f64())
        .fold(0.0, f64::max)
}

#[test]
fn status_reports_windows_levels_and_reasons_for_every_provider() {
    let sandbox = Sandbox::new();
    let running: Vec<_> = ProviderId::ALL.iter().map(|&p| (p, fake(p, KEY))).collect();
    for (provider, fake) in &running {
        let id = format!("acct-{provider}");
        let origin = fake.origin();
        let added = sandbox.add_key(&id, provider.as_str(), &origin, KEY);
        assert!(
            added.stdout.contains("accepted it"),
            "{provider}: {}",
            added.stdout
        );
    }

    let status = sandbox.status_json();
    assert_eq!(status["level"], "ok", "{status:#}");
    for (provider, _) in &running {
        let account = account(&status, &format!("acct-{provider}"));
        let kinds = fakes::window_kinds(*provider);
        let driven = !kinds.is_empty();
        assert_eq!(account["level"], "ok", "{provider}: {account:#}");
        assert_eq!(account["provider"], provider.as_str());
        assert_eq!(account["key"]["health"], "ok");
        let found: Vec<&str> = account["windows"]
            .as_array()
            .unwrap()
            .iter()
            .map(|w| w["kind"].as_str().unwrap())
            .collect();
        for kind in kinds {
            assert!(
                found.contains(kind),
                "{provider}: {kind} missing from {found:?}"
            );
        }
        if driven {
            assert!(
                (busiest(account) - 0.40).abs() < 0.011,
                "{provider}: {account:#}"
            );
        } else if provider.facts().shows.contains(&Shows::Balance) {
            assert!(
                !account["balances"].as_array().unwrap().is_empty(),
                "{provider}: {account:#}"
            );
        }
    }
    let kimi = account(&status, "acct-kimi-code");
    assert_eq!(kimi["concurrency"]["limit"], 30);
    assert_eq!(kimi["plan"], "Standard");
    let five_hour = kimi["windows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["kind"] == "five_hour")
        .unwrap();
    assert!(five_hour["resets_at"].as_str().is_some(), "{five_hour}");

    // Near the limit: amber at 85 %, red at 96 %, with the reason in words.
    for (percent, level, code) in [
        (85.0, "warn", "window_warn"),
        (96.0, "critical", "window_critical"),
    ] {
        for (_, fake) in &running {
            fake.set_used_percent(percent);
        }
        let status = sandbox.status_json();
        assert_eq!(status["level"], level);
        for (provider, _) in running
            .iter()
            .filter(|(p, _)| !fakes::window_kinds(*p).is_empty())
        {
            let account = account(&status, &format!("acct-{provider}"));
            assert_eq!(
                account["level"], level,
                "{provider} at {percent}%: {account:#}"
            );
            let reason = &account["reasons"][0];
            assert_eq!(reason["code"], code, "{provider}: {reason}");
            assert!(
                reason["message"]
                    .as_str()
                    .unwrap()
                    .contains(&format!("{percent:.0}% used")),
                "{reason}"
            );
        }
    }

    let text = sandbox.run(&["status"]).ok().stdout;
    assert!(text.starts_with("Redline: CRITICAL"), "{text}");
    assert!(text.contains("CRITICAL: 5h window 96% used"), "{text}");
    let waybar: Value =
        serde_json::from_str(sandbox.run(&["status", "--waybar"]).ok().stdout.trim()).unwrap();
    assert_eq!(waybar["class"], "critical");
    assert_eq!(waybar["percentage"], 96);
    assert_eq!(waybar["text"], "96%");
}

#[test]
fn odd_answers_become_readable_per_account_errors() {
    let sandbox = Sandbox::new();
    let cases = [
        ("html", Behaviour::HtmlError(502), "HTTP 502"),
        ("truncated", Behaviour::Truncated, "cannot read"),
        ("unknown-shape", Behaviour::UnknownShape, "cannot read"),
        (
            "limited",
            Behaviour::UsageRateLimited { retry_after_s: 120 },
            "HTTP 429",
        ),
    ];
    let mut fakes = Vec::new();
    for (id, behaviour, _) in &cases {
        let fake = fake(ProviderId::KimiCode, KEY);
        let origin = fake.origin();
        sandbox.add_key(id, "kimi-code", &origin, KEY);
        fake.set_behaviour(behaviour.clone());
        fakes.push(fake);
    }
    let variant = fake(ProviderId::KimiCode, KEY);
    variant.set_behaviour(Behaviour::Variant);
    sandbox.add_key_unchecked("variant", "kimi-code", Some(&variant.origin()), KEY);

    let status = sandbox.status_json();
    for (id, _, words) in &cases {
        let account = account(&status, id);
        assert_eq!(account["level"], "unknown", "{id}: {account:#}");
        let reason = account["reasons"][0]["message"].as_str().unwrap();
        assert!(reason.contains(words), "{id}: {reason}");
        assert_eq!(account["key"]["health"], "unknown");
    }
    let variant = account(&status, "variant");
    assert_eq!(variant["level"], "ok", "{variant:#}");
    assert_eq!(variant["windows"][0]["kind"], "five_hour");
}

#[test]
fn a_rejected_key_and_a_missing_keyring_entry_are_critical() {
    let sandbox = Sandbox::new();
    let kimi = fake(ProviderId::KimiCode, KEY);
    let origin = kimi.origin();
    sandbox.add_key("revoked", "kimi-code", &origin, KEY);
    let other = fake(ProviderId::KimiCode, "sk-test-SomeoneElsesKey0000000000");
    sandbox.add_key_unchecked("wrong", "kimi-code", Some(&other.origin()), KEY);
    // The key vanished from the keyring behind Redline's back.
    let mut clear = Command::new("secret-tool");
    clear.args([
        "clear",
        "service",
        &sandbox.service,
        "username",
        "account:revoked",
    ]);
    assert!(process::output(clear, None).status.success());

    let status = sandbox.status_json();
    assert_eq!(status["level"], "critical");
    let wrong = account(&status, "wrong");
    assert_eq!(wrong["level"], "critical");
    assert_eq!(wrong["key"]["health"], "rejected");
    assert_eq!(wrong["reasons"][0]["code"], "key_rejected");
    assert!(
        wrong["reasons"][0]["message"]
            .as_str()
            .unwrap()
            .contains("HTTP 401"),
        "{wrong:#}"
    );
    let revoked = account(&status, "revoked");
    assert_eq!(revoked["level"], "critical");
    assert!(
        revoked["reasons"][0]["message"]
            .as_str()
            .unwrap()
            .contains("keyring has no key for revoked"),
        "{revoked:#}"
    );
}

/// Every run's output, searched for the local token at the end.
#[derive(Default)]
struct Seen(String);

impl Seen {
    fn keep(&mut self, run: Run) -> Run {
        self.0.push_str(&run.stdout);
        self.0.push_str(&run.stderr);
        run
    }
}

#[test]
fn status_shows_what_the_running_daemon_saw_and_polls_the_providers_without_it() {
    let account = KimiAccount::new(KEY);
    let (sandbox, kimi, token) = (&account.sandbox, &account.provider, &account.token);
    // The daemon listens on proxy.listen, where `status` looks for it.
    let listen = closed_origin().replace("http://", "");
    sandbox
        .run(&["config", "set", "proxy.listen", &listen])
        .ok();
    let mut seen = Seen::default();
    let mut daemon = Daemon::start_args(sandbox, &[], &[]);
    assert_eq!(daemon.origin, format!("http://{listen}"));

    // A tool meets Kimi's 429 three times through the proxy (throttling now), with the quota
    // at a comfortable 40 %.
    kimi.refuse_next_chats(3, 600);
    let client = http();
    for _ in 0..3 {
        let refused = client
            .post(daemon.url("/kimi-main/coding/v1/chat/completions"))
            .bearer_auth(token)
            .json(&serde_json::json!({"model": "kimi-for-coding", "messages": [{"role": "user", "content": "hi"}]}))
            .send()
            .unwrap();
        assert_eq!(refused.status(), 429);
    }
    daemon.wait_for_status(&account.admin, "the three refusals", |s| {
        s["accounts"][0]["throttles"]["recent"] == 3
    });

    // Every form shows the throttle only the daemon saw, without asking Kimi again.
    let polls = kimi.usage_requests();
    let line = seen.keep(sandbox.run(&["status", "--line"]).ok());
    assert!(
        line.stdout.starts_with("CRIT kimi-main 429 ▲0/30"),
        "{}",
        line.stdout
    );
    assert_eq!(line.stderr, "");
    let required = seen.keep(sandbox.run(&["status", "--line", "--engine"]).ok());
    assert_eq!(required.stdout, line.stdout);
    let waybar = seen.keep(sandbox.run(&["status", "--waybar"]).ok());
    let waybar: Value = serde_json::from_str(waybar.stdout.trim()).unwrap();
    assert_eq!(waybar["text"], "429");
    assert_eq!(waybar["class"], "critical");
    assert!(
        waybar["tooltip"]
            .as_str()
            .unwrap()
            .contains("your quota is fine"),
        "{waybar:#}"
    );
    let text = seen.keep(sandbox.run(&["status"]).ok());
    assert!(
        text.stdout.starts_with("Redline: CRITICAL"),
        "{}",
        text.stdout
    );
    assert_eq!(text.stderr, "");
    let json = seen.keep(sandbox.run(&["status", "--json"]).ok());
    let json: Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(
        json["accounts"][0]["throttles"]["by_cause"]["concurrency"], 3,
        "{json:#}"
    );
    assert_eq!(kimi.usage_requests(), polls, "status asked Kimi itself");

    // --direct asks Kimi, which knows nothing of the tool's 429.
    let direct = seen.keep(sandbox.run(&["status", "--line", "--direct"]).ok());
    assert_eq!(direct.stdout.trim(), "kimi-main 40%");
    assert!(kimi.usage_requests() > polls);

    // The admin credential replaced behind the daemon's back (from another REDLINE_HOME, so
    // the stamp it follows did not change): it refuses the new one; status says so and polls
    // instead (quietly in the bar forms).
    let mut rotate = sandbox.command(&["token", "--admin", "--rotate"]);
    rotate.env("REDLINE_HOME", sandbox.dir.path().join("elsewhere"));
    let new_token = sandbox.run_with(rotate, None).ok().stdout.trim().to_owned();
    let line = seen.keep(sandbox.run(&["status", "--line"]).ok());
    assert_eq!(
        (line.stdout.trim(), line.stderr.as_str()),
        ("kimi-main 40%", "")
    );
    let text = seen.keep(sandbox.run(&["status"]).ok());
    assert!(
        text.stderr.contains(&format!(
            "the Redline on {listen} did not accept this install's admin credential"
        )),
        "{}",
        text.stderr
    );
    assert!(
        text.stderr.contains("asked the providers directly"),
        "{}",
        text.stderr
    );
    assert!(text.stdout.starts_with("Redline: OK"), "{}", text.stdout);
    assert!(daemon.stop().success());
    let daemon_log = daemon.log();

    // Without a daemon every form still prints, from the providers.
    let line = seen.keep(sandbox.run(&["status", "--line"]).ok());
    assert_eq!(
        (line.stdout.trim(), line.stderr.as_str()),
        ("kimi-main 40%", "")
    );
    let waybar = seen.keep(sandbox.run(&["status", "--waybar"]).ok());
    assert_eq!(waybar.stderr, "");
    let waybar: Value = serde_json::from_str(waybar.stdout.trim()).unwrap();
    assert_eq!(
        (&waybar["text"], &waybar["class"]),
        (&Value::from("40%"), &Value::from("ok"))
    );
    let text = seen.keep(sandbox.run(&["status"]).ok());
    assert_eq!(
        text.stderr.trim(),
        format!("redline: no running Redline on {listen}; asked the providers directly")
    );
    let required = seen.keep(sandbox.run(&["status", "--line", "--engine"]));
    required.fails_with(&format!("no running Redline answers on {listen}"));

    for secret in [token, &new_token, &account.admin] {
        assert!(!seen.0.contains(secret.as_str()), "the token was printed");
        assert!(
            !daemon_log.contains(secret.as_str()),
            "the daemon printed the token"
        );
    }
}

/// Kimi Code's answers since the 2026-09 plan change: one window per real window, the monthly
/// pools named apart, the plan's concurrency limit marked as assumed, and a 5-hour window
/// whose two figures disagree (a public capture) shown at the more used one with the reason.
#[test]
fn kimi_code_2026_plans_show_each_window_once_and_say_when_kimis_figures_disagree() {
    let sandbox = Sandbox::new();
    let plan = fake(ProviderId::KimiCode, KEY);
    plan.set_behaviour(Behaviour::Variant);
    plan.set_used_percent(40.0);
    sandbox.add_key_unchecked("plan", "kimi-code", Some(&plan.origin()), KEY);
    let capture = fake(ProviderId::KimiCode, KEY);
    capture.set_behaviour(Behaviour::Error {
        status: 200,
        body: include_str!("../fixtures/providers/kimi-code/plan-2026-09.json").into(),
        headers: vec![],
    });
    sandbox.add_key_unchecked("capture", "kimi-code", Some(&capture.origin()), KEY);

    let status = sandbox.status_json();
    let plan = account(&status, "plan");
    let windows: Vec<_> = plan["windows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| {
            (
                w["kind"].as_str().unwrap(),
                w["scope"].as_str(),
                w["used_ratio"].as_f64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        windows,
        [
            ("five_hour", None, 0.4),
            ("monthly", Some("coding"), 0.05),
            ("monthly", Some("total"), 0.1),
        ],
        "{plan:#}"
    );
    assert_eq!(plan["windows"][0]["used"], 400.0);
    assert_eq!(plan["windows"][0]["unit"], "requests");
    assert_eq!(plan["concurrency"]["limit"], 30);
    assert_eq!(plan["concurrency"]["limit_source"], "assumed");
    assert_eq!(plan["level"], "ok", "{plan:#}");

    let capture = account(&status, "capture");
    let five_hour = &capture["windows"][0];
    assert_eq!(
        (&five_hour["used"], &five_hour["limit"], &five_hour["unit"]),
        (
            &Value::from(100.0),
            &Value::from(100.0),
            &Value::from("requests")
        )
    );
    assert!(five_hour["note"].as_str().unwrap().contains("disagree"));
    assert_eq!(capture["level"], "critical", "{capture:#}");
    let codes: Vec<_> = capture["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["code"].as_str().unwrap())
        .collect();
    assert!(codes.contains(&"window_exhausted") && codes.contains(&"figures_disagree"));

    let text = sandbox.run(&["status"]).stdout;
    assert!(
        text.contains("5h 100% used (100/100 requests)")
            && text.contains("the provider's figures disagree")
            && text.contains("month (total) 8% used")
            && text.contains("assumed: the answer does not say"),
        "{text}"
    );
}

/// Z.ai's credit plans (2026-07): the figures are the credits the provider counts, exactly.
#[test]
fn zai_credit_plans_show_credit_windows_with_the_providers_own_counts() {
    let sandbox = Sandbox::new();
    let zai = fake(ProviderId::Zai, KEY);
    zai.set_behaviour(Behaviour::Variant);
    zai.set_used_percent(40.0);
    sandbox.add_key_unchecked("glm", "zai", Some(&zai.origin()), KEY);

    let status = sandbox.status_json();
    let glm = account(&status, "glm");
    let windows: Vec<_> = glm["windows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| {
            (
                w["kind"].as_str().unwrap(),
                w["unit"].as_str().unwrap(),
                w["used"].as_f64().unwrap(),
                w["limit"].as_f64().unwrap(),
                w["remaining"].as_f64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        windows,
        [
            ("five_hour", "credits", 800.0, 2000.0, 1200.0),
            ("weekly", "credits", 800.0, 10000.0, 9200.0),
        ],
        "{glm:#}"
    );
    assert_eq!(glm["plan"], "Lite");
    assert_eq!(glm["level"], "ok");
    let text = sandbox.run(&["status"]).ok().stdout;
    assert!(
        text.contains("5h (credits) 40% used (800/2000 credits)"),
        "{text}"
    );
}

/// MiniMax's Token Plan: the percentages are what is *left*; a host without the Token Plan's
/// route still answers on the coding plan's, and Redline finds it there.
#[test]
fn minimax_token_plan_figures_are_used_shares_and_the_older_route_is_a_fallback() {
    let sandbox = Sandbox::new();
    let current = fake(ProviderId::Minimax, KEY);
    current.set_used_percent(30.0);
    sandbox.add_key_unchecked("plan", "minimax", Some(&current.origin()), KEY);
    let older = fake(ProviderId::Minimax, KEY);
    older.lack_usage_route(true);
    older.set_used_percent(60.0);
    sandbox.add_key_unchecked("older", "minimax", Some(&older.origin()), KEY);

    let status = sandbox.status_json();
    for (id, five_hour, weekly) in [("plan", 0.3, 0.15), ("older", 0.6, 0.3)] {
        let account = account(&status, id);
        let windows: Vec<_> = account["windows"]
            .as_array()
            .unwrap()
            .iter()
            .map(|w| {
                (
                    w["kind"].as_str().unwrap(),
                    w["scope"].as_str().unwrap(),
                    w["used_ratio"].as_f64().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            windows,
            [
                ("five_hour", "general", five_hour),
                ("weekly", "general", weekly)
            ],
            "{id}: {account:#}"
        );
    }
}

/// An answer of a shape Redline does not know never becomes a number: the account is grey
/// with "the provider changed its answer", `keys test --json` lists the answer's field names
/// (never its values) and the daemon's log names them once.
#[test]
fn a_changed_answer_is_grey_and_its_field_names_are_reported_never_its_values() {
    let sandbox = Sandbox::new();
    let kimi = fake(ProviderId::KimiCode, KEY);
    sandbox.add_key("kimi", "kimi-code", &kimi.origin(), KEY);
    let changed = r#"{"quota":{"plan":"sk-live-NotAKeyButSecretLooking1234","left":7},"v":2}"#;
    kimi.set_behaviour(Behaviour::Error {
        status: 200,
        body: changed.into(),
        headers: vec![],
    });

    let test = sandbox.run(&["keys", "test", "kimi", "--json"]);
    let result: Value = serde_json::from_str(&test.stdout).unwrap();
    assert_eq!(result["ok"], false);
    assert!(
        result["message"]
            .as_str()
            .unwrap()
            .contains("the provider changed its answer"),
        "{result:#}"
    );
    assert_eq!(
        result["answer_fields"],
        serde_json::json!(["quota", "quota.left", "quota.plan", "v"])
    );
    assert!(!test.stdout.contains("NotAKey") && !test.stdout.contains(":7"));

    let status = sandbox.status_json();
    let account = account(&status, "kimi");
    assert_eq!(account["level"], "unknown");
    assert!(account["windows"].as_array().unwrap().is_empty());
    assert!(
        account["reasons"][0]["message"]
            .as_str()
            .unwrap()
            .contains("changed its answer")
    );

    let mut daemon = Daemon::start(&sandbox);
    let log = crate::support::poll_until(
        "the daemon to log the changed answer",
        std::time::Duration::from_secs(30),
        std::time::Duration::from_millis(100),
        || daemon.log(),
        |log| log.contains("fields in its answer"),
    );
    assert!(
        log.contains("redline: kimi: ")
            && log.contains("fields in its answer: quota, quota.left, quota.plan, v"),
        "{log}"
    );
    assert!(!log.contains("NotAKey"), "{log}");
    daemon.stop();
}

// Providers added for issue 15 (breadth, part b).

/// Prepaid balances as the providers give them: SiliconFlow's decimal strings in CNY (its
/// `.cn` region is the default), Novita's ten-thousandths of a dollar shown as dollars; and
/// a provider without any figure Redline can read is still green once its key is checked.
#[test]
fn new_balances_are_the_providers_own_figures_and_key_check_only_providers_stay_green() {
    let sandbox = Sandbox::new();
    let silicon = fake(ProviderId::Siliconflow, KEY);
    let novita = fake(ProviderId::Novita, KEY);
    let ark = fake(ProviderId::VolcengineArk, KEY);
    sandbox.add_key_unchecked("sf", "siliconflow", Some(&silicon.origin()), KEY);
    sandbox.add_key_unchecked("nv", "novita", Some(&novita.origin()), KEY);
    sandbox.add_key_unchecked("ark", "volcengine-ark", Some(&ark.origin()), KEY);

    let status = sandbox.status_json();
    let balances = |id: &str| -> Vec<(String, f64, String)> {
        account(&status, id)["balances"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| {
                (
                    b["kind"].as_str().unwrap().to_owned(),
                    b["amount"].as_f64().unwrap(),
                    b["currency"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    };
    let owned = |rows: &[(&str, f64, &str)]| -> Vec<(String, f64, String)> {
        rows.iter()
            .map(|(k, a, c)| (k.to_string(), *a, c.to_string()))
            .collect()
    };
    assert_eq!(
        balances("sf"),
        owned(&[
            ("total", 88.88, "CNY"),
            ("granted", 0.88, "CNY"),
            ("topped_up", 88.0, "CNY")
        ])
    );
    assert_eq!(
        balances("nv"),
        owned(&[("available", 12.3456, "USD"), ("cash", 10.3456, "USD")])
    );
    let ark = account(&status, "ark");
    assert_eq!(ark["level"], "ok", "{ark:#}");
    assert!(ark["windows"].as_array().unwrap().is_empty(), "{ark:#}");
    assert_eq!(ark["key"]["health"], "ok");
}
