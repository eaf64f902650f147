//! The engine's live monitoring against fake providers over real loopback HTTP: the status on
//! the watch channel follows the provider, refresh-now works, and the HTTP layer's limits
//! (timeouts, size cap, the usage endpoint's Retry-After) hold.

use crate::support::Sandbox;
use crate::support::scenario::accounts_config;
use redline::fakes::{Behaviour, FakeProvider};
use redline::keys::secret::Secret;
use redline::keys::vault::{Slot, Vault};
use redline::poll::fetch::{HostMap, HttpClient};
use redline::poll::monitor::Monitor;
use redline::poll::usage::{PollError, poll_once, target};
use redline::providers::{ProviderId, provider};
use redline::proxy::traffic::Traffic;
use redline::status::health::Level;
use std::time::Duration;

const KEY: &str = "sk-test-MonitorKeyAbcdefghijklmnop5151";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_published_status_follows_the_provider_and_refresh_now() {
    let sandbox = Sandbox::new();
    let vault = Vault::with_service(&sandbox.service);
    let kimi = FakeProvider::start(ProviderId::KimiCode, KEY)
        .await
        .unwrap();
    let zai = FakeProvider::start(ProviderId::Zai, KEY).await.unwrap();
    let secret = Secret::parse(KEY).unwrap();
    for id in ["kimi-main", "glm"] {
        let (vault, secret, slot) = (
            vault.clone(),
            secret.clone(),
            Slot::Current(id.parse().unwrap()),
        );
        tokio::task::spawn_blocking(move || vault.set(&slot, &secret))
            .await
            .unwrap()
            .unwrap();
    }
    let config = accounts_config(&[
        ("kimi-main", ProviderId::KimiCode, &kimi.origin()),
        ("glm", ProviderId::Zai, &zai.origin()),
        ("no-key", ProviderId::Openai, "http://127.0.0.1:9"),
    ]);

    let traffic = Traffic::new();
    let client = HttpClient::new(HostMap::default());
    let secrets = redline::poll::monitor::load_secrets(&vault, &config).await;
    let monitor = Monitor::start(config, secrets, client, traffic.clone(), false);
    let mut status = monitor.status();
    let first = status
        .wait_for(|s| s.accounts.iter().filter(|a| a.updated_at.is_some()).count() == 2)
        .await
        .unwrap()
        .clone();
    let no_key = first.accounts.iter().find(|a| a.id == "no-key").unwrap();
    assert_eq!(
        no_key.level,
        Level::Critical,
        "a configured account without a key is red"
    );
    let kimi_status = first.accounts.iter().find(|a| a.id == "kimi-main").unwrap();
    assert_eq!(kimi_status.level, Level::Ok);
    assert_eq!(kimi_status.concurrency.limit, Some(30));

    // The provider reports 96 % used; refresh now brings it without waiting for the interval.
    let polls_before = kimi.usage_requests();
    kimi.set_used_percent(96.0);
    monitor.refresh_all().await;
    assert_eq!(
        kimi.usage_requests(),
        polls_before + 1,
        "one poll per refresh"
    );
    let critical = status
        .wait_for(|s| {
            s.accounts
                .iter()
                .any(|a| a.id == "kimi-main" && a.level == Level::Critical)
        })
        .await
        .unwrap()
        .clone();
    let kimi_status = critical
        .accounts
        .iter()
        .find(|a| a.id == "kimi-main")
        .unwrap();
    assert_eq!(kimi_status.reasons[0].code, "window_critical");
    assert_eq!(critical.level, Level::Critical);

    // Proxied traffic shows at once: requests in flight, and refusals with their cause.
    let glm: redline::keys::account_id::AccountId = "glm".parse().unwrap();
    let guards: Vec<_> = (0..3).map(|_| traffic.begin(&glm, "Claude Code")).collect();
    let busy = status
        .wait_for(|s| {
            s.accounts
                .iter()
                .any(|a| a.id == "glm" && a.concurrency.in_flight == Some(3))
        })
        .await
        .unwrap()
        .clone();
    assert_eq!(
        busy.accounts.iter().find(|a| a.id == "glm").unwrap().level,
        Level::Ok
    );
    for _ in 0..3 {
        traffic.record_throttle(
            &glm,
            "Claude Code",
            redline::status::health::ThrottleEvent {
                at: jiff::Timestamp::now(),
                cause: redline::providers::throttle::Cause::Concurrency,
                status: 429,
                retry_after_s: Some(1.0),
                message: "High concurrency usage of this API".into(),
                advice: redline::providers::throttle::advice(
                    redline::providers::throttle::Cause::Concurrency,
                    None,
                ),
                in_flight: None,
            },
        );
    }
    drop(guards);
    let throttled = status
        .wait_for(|s| {
            s.accounts
                .iter()
                .any(|a| a.id == "glm" && a.level == Level::Critical)
        })
        .await
        .unwrap()
        .clone();
    let glm_status = throttled.accounts.iter().find(|a| a.id == "glm").unwrap();
    assert_eq!(glm_status.reasons[0].code, "throttling_now");
    assert_eq!(
        glm_status.throttles.by_cause[&redline::providers::throttle::Cause::Concurrency],
        3
    );
    assert_eq!(glm_status.concurrency.peak, Some(3));
}

fn client(timeout: Duration) -> HttpClient {
    HttpClient::with_timeout(HostMap::default(), timeout)
}

async fn poll(fake: &FakeProvider, id: ProviderId, client: &HttpClient) -> Result<(), PollError> {
    let adapter = provider(id);
    let origin = fake.origin();
    let target = target(adapter, Some(origin.as_str()));
    poll_once(client, adapter, &target, &Secret::parse(KEY).unwrap())
        .await
        .map(|_| ())
}

#[tokio::test]
async fn a_slow_provider_times_out_with_a_readable_error() {
    let fake = FakeProvider::start(ProviderId::Deepseek, KEY)
        .await
        .unwrap();
    fake.set_behaviour(Behaviour::Slow(Duration::from_secs(5)));
    let error = poll(
        &fake,
        ProviderId::Deepseek,
        &client(Duration::from_millis(300)),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(&error, PollError::Unreachable(m) if m.ends_with("did not answer in time")),
        "{error:?}"
    );
}

#[tokio::test]
async fn an_oversized_answer_is_refused() {
    let fake = FakeProvider::start(ProviderId::Deepseek, KEY)
        .await
        .unwrap();
    let huge = format!("{{\"padding\":\"{}\"}}", "x".repeat(2 * 1024 * 1024));
    fake.set_behaviour(Behaviour::Error {
        status: 200,
        body: huge,
        headers: vec![],
    });
    let error = poll(
        &fake,
        ProviderId::Deepseek,
        &client(Duration::from_secs(10)),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(&error, PollError::BadAnswer(m) if m.contains("more than 1024 KiB")),
        "{error:?}"
    );
}

#[tokio::test]
async fn the_usage_endpoints_own_retry_after_reaches_the_poller() {
    let fake = FakeProvider::start(ProviderId::Claude, KEY).await.unwrap();
    fake.set_behaviour(Behaviour::UsageRateLimited { retry_after_s: 300 });
    let error = poll(&fake, ProviderId::Claude, &client(Duration::from_secs(10)))
        .await
        .unwrap_err();
    assert_eq!(
        error.retry_after(),
        Some(Duration::from_secs(300)),
        "{error:?}"
    );
    assert!(!error.key_rejected());
}
