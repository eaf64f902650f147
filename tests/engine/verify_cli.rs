//! Keys are checked with their provider on `keys add`, `keys rotate` and `keys test`: valid,
//! rejected, for another product, for another region, or unreachable, each with what to do.

use crate::support::{Sandbox, closed_origin, fake};
use redline::fakes::Behaviour;
use redline::providers::ProviderId;

const KEY: &str = "sk-test-VerifyKeyAbcdefghijklmnop7777";
const OTHER: &str = "sk-test-AnotherKeyQrstuvwxyzABCD8888";

fn assert_nothing_stored(sandbox: &Sandbox, id: &str) {
    assert_eq!(sandbox.keyring(&format!("account:{id}")), None);
    let config = sandbox.config_text().unwrap_or_default();
    assert!(!config.contains(&format!("[accounts.{id}]")), "{config}");
}

#[test]
fn a_valid_key_is_accepted_and_a_bad_one_refused() {
    let sandbox = Sandbox::new();
    let kimi = fake(ProviderId::KimiCode, KEY);
    let origin = kimi.origin();
    let add = sandbox.add_key("kimi-main", "kimi-code", &origin, KEY);
    assert!(
        add.stdout
            .contains("Kimi Code (coding plan) accepted it, plan Standard.")
    );
    let auth = kimi.last_request_headers().unwrap();
    assert_eq!(auth["authorization"], format!("Bearer {KEY}"));

    let refused = sandbox
        .run_stdin(
            &[
                "keys",
                "add",
                "bad",
                "--provider",
                "kimi-code",
                "--base-url",
                &origin,
            ],
            OTHER,
        )
        .fails_with("the key was not stored: Kimi Code (coding plan) rejected the key: HTTP 401");
    assert_eq!(refused.stderr.lines().count(), 1, "{}", refused.stderr);
    assert_nothing_stored(&sandbox, "bad");

    // Rotation checks the new key first; a refused one changes nothing.
    sandbox
        .run_stdin(&["keys", "rotate", "kimi-main"], OTHER)
        .fails_with("rejected the key");
    assert_eq!(sandbox.keyring("account:kimi-main").as_deref(), Some(KEY));
    assert_eq!(sandbox.keyring("account:kimi-main:previous"), None);

    // --no-verify stores without asking the provider.
    let requests = kimi.usage_requests();
    sandbox
        .run_stdin(
            &[
                "keys",
                "add",
                "unchecked",
                "--provider",
                "kimi-code",
                "--base-url",
                &origin,
                "--no-verify",
            ],
            OTHER,
        )
        .ok();
    assert_eq!(kimi.usage_requests(), requests);
    assert_eq!(sandbox.keyring("account:unchecked").as_deref(), Some(OTHER));
}

#[test]
fn keys_test_checks_with_the_provider_and_records_the_result() {
    let sandbox = Sandbox::new();
    let kimi = fake(ProviderId::KimiCode, KEY);
    let origin = kimi.origin();
    sandbox.add_key("kimi-main", "kimi-code", &origin, KEY);
    let ok = sandbox.run(&["keys", "test", "kimi-main"]).ok().stdout;
    assert_eq!(ok.trim(), "kimi-main: ok: the provider accepted the key");

    kimi.set_behaviour(Behaviour::WrongProduct);
    let failed = sandbox.run(&["keys", "test", "kimi-main", "--json"]);
    assert_eq!(failed.code, 1);
    let json: serde_json::Value = serde_json::from_str(&failed.stdout).unwrap();
    assert_eq!(json["ok"], false);
    assert!(
        json["message"]
            .as_str()
            .unwrap()
            .contains("this is not a Kimi Code key"),
        "{json}"
    );
    let list = sandbox.run(&["keys", "list"]).ok().stdout;
    assert!(list.contains("failed, just now"), "{list}");
}

#[test]
fn a_key_for_the_other_product_is_named() {
    let sandbox = Sandbox::new();
    // A Moonshot platform key, given as Kimi Code: Kimi answers 401, the Moonshot host accepts it.
    let kimi = fake(ProviderId::KimiCode, OTHER);
    let moonshot = fake(ProviderId::Moonshot, KEY);
    let hosts = format!(
        "https://api.moonshot.ai={},https://api.moonshot.cn={}",
        moonshot.origin(),
        closed_origin()
    );
    let origin = kimi.origin();
    let mut add = sandbox.command(&[
        "keys",
        "add",
        "mine",
        "--provider",
        "kimi-code",
        "--base-url",
        &origin,
    ]);
    add.env("REDLINE_PROVIDER_HOSTS", &hosts);
    sandbox
        .run_with(add, Some(KEY))
        .fails_with("this is a Moonshot open platform key, not a Kimi Code (coding plan) key: add it with --provider moonshot");
    assert_nothing_stored(&sandbox, "mine");

    // The usage endpoint's own 404 says "not this product" without any probing.
    kimi.set_behaviour(Behaviour::WrongProduct);
    sandbox
        .run_stdin(
            &[
                "keys",
                "add",
                "mine",
                "--provider",
                "kimi-code",
                "--base-url",
                &origin,
            ],
            OTHER,
        )
        .fails_with("answered 404, so this is not a Kimi Code key");
}

#[test]
fn a_key_for_the_other_region_is_named() {
    let sandbox = Sandbox::new();
    let global = fake(ProviderId::Moonshot, OTHER);
    let china = fake(ProviderId::Moonshot, KEY);
    let hosts = format!(
        "https://api.moonshot.ai={},https://api.moonshot.cn={}",
        global.origin(),
        china.origin()
    );
    let mut add = sandbox.command(&["keys", "add", "moon", "--provider", "moonshot"]);
    add.env("REDLINE_PROVIDER_HOSTS", &hosts);
    sandbox
        .run_with(add, Some(KEY))
        .fails_with("this key belongs to the cn region of Moonshot open platform: add it with --base-url https://api.moonshot.cn/v1");
    assert_nothing_stored(&sandbox, "moon");

    let mut add = sandbox.command(&[
        "keys",
        "add",
        "moon",
        "--provider",
        "moonshot",
        "--base-url",
        "https://api.moonshot.cn/v1",
    ]);
    add.env("REDLINE_PROVIDER_HOSTS", &hosts);
    sandbox.run_with(add, Some(KEY)).ok();
    assert_eq!(sandbox.keyring("account:moon").as_deref(), Some(KEY));
}

#[test]
fn an_unreachable_provider_is_inconclusive_and_says_what_to_do() {
    let sandbox = Sandbox::new();
    let origin = closed_origin();
    let run = sandbox
        .run_stdin(
            &[
                "keys",
                "add",
                "far",
                "--provider",
                "openai",
                "--base-url",
                &origin,
            ],
            KEY,
        )
        .fails_with("could not check the key (cannot reach 127.0.0.1:");
    assert!(
        run.stderr
            .contains("check your network, proxy or --base-url"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("--no-verify"), "{}", run.stderr);
    assert_nothing_stored(&sandbox, "far");
}

#[test]
fn anthropic_keys_go_in_x_api_key_and_zai_keys_raw() {
    let sandbox = Sandbox::new();
    let anthropic = fake(ProviderId::Anthropic, KEY);
    let origin = anthropic.origin();
    sandbox.add_key("ant", "anthropic", &origin, KEY);
    let headers = anthropic.last_request_headers().unwrap();
    assert_eq!(headers["x-api-key"], KEY);
    assert_eq!(headers["anthropic-version"], "2023-06-01");
    assert!(headers.get("authorization").is_none());

    let zai = fake(ProviderId::Zai, KEY);
    let origin = zai.origin();
    sandbox.add_key("glm", "zai", &origin, KEY);
    assert_eq!(zai.last_request_headers().unwrap()["authorization"], KEY);
    // Z.ai refuses a bad key inside an HTTP 200 body; that is still a refusal.
    sandbox
        .run_stdin(
            &[
                "keys",
                "add",
                "glm2",
                "--provider",
                "zai",
                "--base-url",
                &origin,
            ],
            OTHER,
        )
        .fails_with("rejected the key");
}

#[test]
fn azure_openai_keys_go_in_the_api_key_header() {
    let sandbox = Sandbox::new();
    let azure = fake(ProviderId::AzureOpenai, KEY);
    sandbox.add_key("az", "azure-openai", &azure.origin(), KEY);
    let headers = azure.last_request_headers().unwrap();
    assert_eq!(headers["api-key"], KEY);
    assert!(headers.get("authorization").is_none());
    assert!(headers.get("x-api-key").is_none());
}
