//! The official `openai` and `anthropic` Python SDKs (installed from PyPI by scripts/test.sh)
//! call through Redline's proxy to fake providers: plain and streamed answers work, the
//! provider sees the real key and never the local token, and a refusal reaches the SDK
//! exactly as the provider sent it.

use crate::support::scenario::InProcessEngine;
use crate::support::{process, python};
use redline::fakes::FakeProvider;
use redline::keys::secret::Secret;
use redline::providers::ProviderId;
use serde_json::Value;
use std::process::Command;

const KEY: &str = "sk-test-SdkRealKeyAbcdefghijklmnop3131";

/// Runs one SDK script against `base_url` and returns the JSON line it printed.
async fn sdk(script: &str, mode: &str, base_url: &str, token: &Secret) -> Value {
    sdk_with(script, &[mode], &[], base_url, token).await
}

/// Runs an SDK script (`tests/sdk/SCRIPT`) with `args` and `env` added to its environment
/// against `base_url`, and returns the JSON line it printed; fails the test if it fails.
pub async fn sdk_with(
    script: &str,
    args: &[&str],
    env: &[(&str, &str)],
    base_url: &str,
    token: &Secret,
) -> Value {
    let own = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    };
    let (script, env, base_url, token) = (
        script.to_owned(),
        own(env),
        base_url.to_owned(),
        token.expose().to_owned(),
    );
    let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    let output = tokio::task::spawn_blocking(move || {
        let mut client = Command::new(python());
        client
            .arg(format!("{}/tests/sdk/{script}", env!("CARGO_MANIFEST_DIR")))
            .args(args)
            .env("BASE_URL", base_url)
            .env("TOKEN", token)
            .env("NO_PROXY", "127.0.0.1,localhost")
            .envs(env);
        process::output(client, None)
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

/// Fake Kimi Code and Anthropic providers, and Redline's engine and port in this process with
/// an account on each: `kimi-main` and `ant`.
struct Redline {
    kimi: FakeProvider,
    anthropic: FakeProvider,
    engine: InProcessEngine,
}

async fn redline() -> Redline {
    let kimi = FakeProvider::start(ProviderId::KimiCode, KEY)
        .await
        .unwrap();
    let anthropic = FakeProvider::start(ProviderId::Anthropic, KEY)
        .await
        .unwrap();
    let engine = InProcessEngine::start(
        &[
            ("kimi-main", ProviderId::KimiCode, &kimi.origin(), KEY),
            ("ant", ProviderId::Anthropic, &anthropic.origin(), KEY),
        ],
        false,
    )
    .await;
    Redline {
        kimi,
        anthropic,
        engine,
    }
}

fn assert_real_key_only(fake: &FakeProvider, token: &Secret) {
    let headers = fake
        .last_request_headers()
        .expect("the provider was called");
    let all: String = headers
        .iter()
        .map(|(k, v)| format!("{k}: {}\n", v.to_str().unwrap_or("")))
        .collect();
    assert!(all.contains(KEY), "the provider sees the real key: {all}");
    assert!(
        !all.contains(token.expose()),
        "the provider never sees the local token: {all}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openai_sdk_works_through_the_proxy() {
    let redline = redline().await;
    let (kimi, engine) = (&redline.kimi, &redline.engine);
    let (base, token) = (
        format!("{}/kimi-main/coding/v1", engine.origin),
        &engine.token,
    );

    let chat = sdk("openai_client.py", "chat", &base, token).await;
    assert!(
        chat["content"].as_str().is_some_and(|c| !c.is_empty()),
        "{chat}"
    );
    assert!(chat["total_tokens"].as_u64().unwrap() > 0, "{chat}");
    assert_real_key_only(kimi, token);

    let stream = sdk("openai_client.py", "stream", &base, token).await;
    assert!(stream["chunks"].as_u64().unwrap() >= 2, "{stream}");

    kimi.refuse_next_chats(1, 7);
    let refused = sdk("openai_client.py", "refused", &base, token).await;
    assert_eq!(refused["status"], 429, "{refused}");
    assert_eq!(
        refused["retry_after"], "7",
        "the provider's Retry-After reaches the SDK"
    );
    assert!(
        refused["body"]
            .as_str()
            .unwrap()
            .contains("rate_limit_error"),
        "{refused}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_anthropic_sdk_works_through_the_proxy() {
    let redline = redline().await;
    let (anthropic, engine) = (&redline.anthropic, &redline.engine);
    let (base, token) = (format!("{}/ant", engine.origin), &engine.token);

    let chat = sdk("anthropic_client.py", "chat", &base, token).await;
    assert!(
        chat["content"].as_str().is_some_and(|c| !c.is_empty()),
        "{chat}"
    );
    assert!(chat["output_tokens"].as_u64().unwrap() > 0, "{chat}");
    assert_real_key_only(anthropic, token);

    let stream = sdk("anthropic_client.py", "stream", &base, token).await;
    assert!(stream["output_tokens"].as_u64().unwrap() > 0, "{stream}");

    anthropic.refuse_next_chats(1, 11);
    let refused = sdk("anthropic_client.py", "refused", &base, token).await;
    assert_eq!(refused["status"], 429, "{refused}");
    assert_eq!(refused["retry_after"], "11");
    assert!(
        refused["body"]
            .as_str()
            .unwrap()
            .contains("rate_limit_error"),
        "{refused}"
    );
}
