//! Redline's credentials against the real daemon, the real keyring and a fake provider: a tool
//! token opens the proxy and nothing else, the admin credential everything else; tool tokens
//! are per tool and revoked alone on a running daemon; the dashboard's session is no
//! credential; none of Redline's credentials reaches the provider in any header; changing
//! where a key goes needs the admin and, for a foreign host, a confirmation; and ten
//! `redline token` started at once print one token.

use crate::support::{Daemon, KimiAccount, Sandbox, closed_origin, http, poll_until, process};
use redline::serve::router::endpoints;
use reqwest::blocking::{Client, RequestBuilder, Response};
use serde_json::{Value, json};
use std::process::Command;
use std::sync::Barrier;
use std::time::Duration;

const KEY: &str = "sk-kimi-TokensTestKeyAbcdefghijkl4242";
const FOREIGN: &str = "https://gateway.invalid/coding/v1";

fn chat(client: &Client, daemon: &Daemon, token: &str) -> Response {
    client
        .post(daemon.url("/kimi-main/coding/v1/chat/completions"))
        .bearer_auth(token)
        .json(&json!({"model": "kimi-for-coding", "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .unwrap()
}

/// The request a route of the table gets: its placeholders filled with an account that does
/// not exist (so the admin's calls change nothing) and a dashboard file.
fn request(client: &Client, daemon: &Daemon, method: &http::Method, path: &str) -> RequestBuilder {
    let path = path.replace("{id}", "nobody").replace("{file}", "app.js");
    let method = reqwest::Method::from_bytes(method.as_str().as_bytes()).unwrap();
    let mut request = client.request(method.clone(), daemon.url(&path));
    if [reqwest::Method::POST, reqwest::Method::PUT].contains(&method) {
        request = request
            .header("content-type", "application/json")
            .body("{}");
    }
    request
}

/// Searches everything the provider received for `secrets`.
fn assert_provider_never_saw(kimi: &redline::fakes::FakeProvider, secrets: &[&str]) {
    let headers = kimi.last_request_headers().expect("the provider was asked");
    for (name, value) in &headers {
        let value = String::from_utf8_lossy(value.as_bytes());
        for secret in secrets {
            assert!(
                !value.contains(secret),
                "{name} reached the provider with a Redline credential: {value}"
            );
        }
    }
}

#[test]
fn a_tool_token_opens_only_the_proxy_and_the_admin_credential_everything_else() {
    let (account, mut daemon) = KimiAccount::with_daemon(KEY);
    let (tool, admin) = (&account.token, &account.admin);
    let client = http();

    // Every route of the port but the proxy, as the router itself lists them.
    let routes = endpoints();
    assert!(routes.len() >= 20, "{routes:?}");
    for (method, path) in &routes {
        if *path == "/healthz" {
            continue;
        }
        for (how, value) in [
            ("authorization", format!("Bearer {tool}")),
            ("x-api-key", tool.clone()),
            ("cookie", format!("redline_session={tool}")),
        ] {
            let refused = request(&client, &daemon, method, path)
                .header(how, &value)
                .send()
                .unwrap();
            let status = refused.status().as_u16();
            assert!(
                status == 401 || status == 403,
                "{method} {path} with a tool token in {how}: {status}"
            );
            let text = refused.text().unwrap();
            assert!(
                text.contains("admin credential") || text.contains("redline dashboard"),
                "{method} {path}: {text}"
            );
            assert!(!text.contains(tool.as_str()), "{text}");
        }
        // (The live event stream answers with its headers, which are all this needs.)
        let accepted = request(&client, &daemon, method, path)
            .bearer_auth(admin)
            .send()
            .unwrap();
        let status = accepted.status().as_u16();
        assert!(
            status != 401 && status != 403,
            "{method} {path} with the admin credential: {status}"
        );
        // Redline's own answers are never sniffed or framed.
        let headers = accepted.headers();
        assert_eq!(headers["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(
            headers["content-security-policy"], "frame-ancestors 'none'",
            "{path}"
        );
    }
    // The dashboard's sign-in page (what a browser without a session gets) too.
    let page = client.get(daemon.url("/ui/")).send().unwrap();
    assert_eq!(page.status(), 401);
    assert_eq!(
        page.headers()["content-security-policy"],
        "frame-ancestors 'none'"
    );
    assert_eq!(page.headers()["x-content-type-options"], "nosniff");

    // The proxy takes the tool token, and refuses the admin credential with what to do.
    let answered = chat(&client, &daemon, tool);
    assert_eq!(answered.status(), 200);
    assert_eq!(
        account.provider.last_request_headers().unwrap()["authorization"],
        format!("Bearer {KEY}")
    );
    let refused = chat(&client, &daemon, admin);
    assert_eq!(refused.status(), 403);
    assert_eq!(refused.headers()["x-redline"], "error");
    let text = refused.text().unwrap();
    assert!(
        text.contains("admin credential") && text.contains("redline token --tool NAME"),
        "{text}"
    );
    assert!(!text.contains(admin.as_str()));

    // `redline env` hands tools the tool token, never the admin credential.
    let env = account.sandbox.run(&["env", "kimi-main"]).ok().stdout;
    assert!(
        env.contains(tool.as_str()) && !env.contains(admin.as_str()),
        "{env}"
    );

    assert!(daemon.stop().success());
    let log = daemon.log();
    assert!(
        !log.contains(tool.as_str()) && !log.contains(admin.as_str()),
        "{log}"
    );
}

#[test]
fn the_dashboard_session_is_no_credential_and_a_sign_in_link_works_once() {
    let account = KimiAccount::new(KEY);
    let sandbox = &account.sandbox;
    // `redline dashboard` finds the daemon on proxy.listen.
    let listen = closed_origin().replace("http://", "");
    sandbox
        .run(&["config", "set", "proxy.listen", &listen])
        .ok();
    let mut daemon = Daemon::start_args(sandbox, &[], &[]);
    let client = http();

    let link = sandbox.run(&["dashboard", "--print"]).ok().stdout;
    let link = link.trim();
    let (origin, code) = link.split_once("/#token=").unwrap();
    assert_eq!(origin, daemon.origin);
    assert!(code.starts_with("rl_signin_"), "{link}");
    assert!(
        !link.contains(&account.admin),
        "the link never holds the admin credential"
    );

    // The sign-in page posts the code; it works once.
    let signed_in = client
        .post(daemon.url("/api/v1/session"))
        .bearer_auth(code)
        .header("origin", &daemon.origin)
        .send()
        .unwrap();
    assert_eq!(signed_in.status(), 204);
    let cookie = signed_in.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let pair = cookie.split(';').next().unwrap().to_owned();
    let session = pair.strip_prefix("redline_session=").unwrap().to_owned();
    for secret in [&account.admin, &account.token] {
        assert!(
            !pair.contains(secret.as_str()),
            "the cookie is not a credential"
        );
    }
    let again = client
        .post(daemon.url("/api/v1/session"))
        .bearer_auth(code)
        .send()
        .unwrap();
    assert_eq!(again.status(), 401, "a sign-in code works once");
    // A code opens nothing but the session.
    let link = sandbox.run(&["dashboard", "--print"]).ok().stdout;
    let (_, fresh) = link.trim().split_once("#token=").unwrap();
    let status = client
        .get(daemon.url("/api/v1/status"))
        .bearer_auth(fresh)
        .send()
        .unwrap();
    assert_eq!(status.status(), 401);

    // The cookie opens the dashboard and the API ...
    let dashboard = client
        .get(daemon.url("/ui/"))
        .header("cookie", &pair)
        .send()
        .unwrap();
    assert_eq!(dashboard.status(), 200);
    let api = client
        .get(daemon.url("/api/v1/status"))
        .header("cookie", &pair)
        .send()
        .unwrap();
    assert_eq!(api.status(), 200);
    // ... but not the proxy, in the cookie or as a bearer credential, and the provider never
    // sees it.
    let by_cookie = client
        .post(daemon.url("/kimi-main/coding/v1/chat/completions"))
        .header("cookie", &pair)
        .json(&json!({"model": "kimi-for-coding", "messages": []}))
        .send()
        .unwrap();
    assert_eq!(by_cookie.status(), 401);
    let as_bearer = chat(&client, &daemon, &session);
    assert_eq!(as_bearer.status(), 401);
    assert!(
        as_bearer
            .text()
            .unwrap()
            .contains("does not know this token")
    );
    if let Some(seen) = account.provider.last_request_headers() {
        assert!(!seen.contains_key("cookie"), "{seen:?}");
    }

    assert!(daemon.stop().success());
    // No daemon: `redline dashboard` says how to start one.
    sandbox
        .run(&["dashboard", "--print"])
        .fails_with("no Redline is running on");
}

#[test]
fn redline_credentials_never_reach_the_provider_in_any_header() {
    let (account, mut daemon) = KimiAccount::with_daemon(KEY);
    let (tool, admin) = (&account.token, &account.admin);
    let client = http();
    let signed_in = client
        .post(daemon.url("/api/v1/session"))
        .bearer_auth(admin)
        .send()
        .unwrap();
    let cookie = signed_in.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_owned();
    let session_pair = cookie.split(';').next().unwrap().to_owned();
    let session = session_pair
        .strip_prefix("redline_session=")
        .unwrap()
        .to_owned();
    let other_tool = account
        .sandbox
        .run(&["token", "--tool", "codex"])
        .ok()
        .stdout
        .trim()
        .to_owned();

    let answered = client
        .post(daemon.url("/kimi-main/coding/v1/chat/completions"))
        .bearer_auth(tool)
        .header("cookie", format!("theme=dark; {session_pair}; lang=en"))
        .header("x-custom-token", tool.as_str())
        .header("x-admin", format!("token {admin}"))
        .header("x-another", other_tool.as_str())
        .header("x-upstream-auth", {
            use base64::Engine as _;
            let pair = format!("user:{tool}");
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(pair)
            )
        })
        .header("x-trace-id", "abc123")
        .json(&json!({"model": "kimi-for-coding", "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .unwrap();
    assert_eq!(answered.status(), 200, "{}", answered.text().unwrap());
    let seen = account.provider.last_request_headers().unwrap();
    assert_eq!(seen["authorization"], format!("Bearer {KEY}"));
    assert_eq!(
        seen["cookie"], "theme=dark; lang=en",
        "only Redline's cookie went"
    );
    assert_eq!(seen["x-trace-id"], "abc123", "the tool's own headers pass");
    for gone in ["x-custom-token", "x-admin", "x-another", "x-upstream-auth"] {
        assert!(!seen.contains_key(gone), "{gone} reached the provider");
    }
    assert_provider_never_saw(&account.provider, &[tool, admin, &session, &other_tool]);

    // In observe-only mode (the tool's own key) too.
    let observed = client
        .post(daemon.url("/kimi-main/coding/v1/chat/completions"))
        .bearer_auth(KEY)
        .header("cookie", session_pair.as_str())
        .header("x-custom-token", tool.as_str())
        .json(&json!({"model": "kimi-for-coding", "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .unwrap();
    assert_eq!(observed.status(), 200);
    let seen = account.provider.last_request_headers().unwrap();
    assert!(
        !seen.contains_key("cookie") && !seen.contains_key("x-custom-token"),
        "{seen:?}"
    );
    assert_provider_never_saw(&account.provider, &[tool, admin, &session]);
    assert!(daemon.stop().success());
}

#[test]
fn per_tool_tokens_are_made_rotated_and_revoked_alone_on_a_running_daemon() {
    let (account, mut daemon) = KimiAccount::with_daemon(KEY);
    let sandbox = &account.sandbox;
    let client = http();
    let token_of = |tool: &str| {
        sandbox
            .run(&["token", "--tool", tool])
            .ok()
            .stdout
            .trim()
            .to_owned()
    };
    // Made while the daemon runs: each works on its very first request.
    let codex = token_of("codex");
    assert_eq!(
        chat(&client, &daemon, &codex).status(),
        200,
        "a new token at once"
    );
    let claude = token_of("claude-code");
    assert_eq!(chat(&client, &daemon, &claude).status(), 200);
    assert_eq!(token_of("codex"), codex, "stable across runs");
    assert!(codex.starts_with("rl_") && codex.len() == 67 && codex != claude);
    let default = &account.token;

    // The list shows names and fingerprints, never a token.
    let list = sandbox.run(&["token", "--list"]).ok().stdout;
    for tool in ["default", "codex", "claude-code"] {
        assert!(list.contains(tool), "{list}");
    }
    for secret in [&codex, &claude, default, &account.admin] {
        assert!(!list.contains(secret.as_str()), "{list}");
    }
    let json: Value =
        serde_json::from_str(&sandbox.run(&["token", "--list", "--json"]).ok().stdout).unwrap();
    let tools: Vec<&str> = json
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["tool"].as_str().unwrap())
        .collect();
    assert_eq!(tools, ["claude-code", "codex", "default"]);
    assert!(
        json[1]["fingerprint"]
            .as_str()
            .unwrap()
            .ends_with(&codex[codex.len() - 4..])
    );

    // Revoking codex stops codex only.
    let revoked = sandbox.run(&["token", "--revoke", "codex"]).ok().stdout;
    assert!(revoked.contains("Revoked the token of codex"), "{revoked}");
    let refused = poll_until(
        "codex's token refused",
        Duration::from_secs(15),
        Duration::from_millis(100),
        || chat(&client, &daemon, &codex).status().as_u16(),
        |status| *status == 401,
    );
    assert_eq!(refused, 401);
    let text = chat(&client, &daemon, &codex).text().unwrap();
    assert!(text.contains("does not know this token"), "{text}");
    for other in [&claude, default] {
        assert_eq!(
            chat(&client, &daemon, other).status(),
            200,
            "the others keep working"
        );
    }
    sandbox
        .run(&["token", "--revoke", "codex"])
        .fails_with("codex has no token");

    // Rotating claude-code: the old one is refused, the new one works, the default is untouched.
    let rotated = sandbox
        .run(&["token", "--tool", "claude-code", "--rotate"])
        .ok()
        .stdout
        .trim()
        .to_owned();
    assert_ne!(rotated, claude);
    assert_eq!(
        chat(&client, &daemon, &rotated).status(),
        200,
        "the new one at once"
    );
    poll_until(
        "the old claude-code token refused",
        Duration::from_secs(15),
        Duration::from_millis(100),
        || chat(&client, &daemon, &claude).status().as_u16(),
        |status| *status == 401,
    );
    assert_eq!(chat(&client, &daemon, default).status(), 200);
    sandbox
        .run(&["token", "--tool", "Not A Name"])
        .fails_with("invalid tool name");

    assert!(daemon.stop().success());
    let log = daemon.log();
    for secret in [&codex, &claude, &rotated, default] {
        assert!(!log.contains(secret.as_str()), "{log}");
    }
}

#[test]
fn rotating_the_admin_credential_ends_what_the_old_one_opened_on_a_running_daemon() {
    let (account, mut daemon) = KimiAccount::with_daemon(KEY);
    let client = http();
    let old = &account.admin;
    let signed_in = client
        .post(daemon.url("/api/v1/session"))
        .bearer_auth(old)
        .send()
        .unwrap();
    let cookie = signed_in.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_owned();
    let pair = cookie.split(';').next().unwrap().to_owned();
    let status_with = |how: &str, value: &str| {
        client
            .get(daemon.url("/api/v1/status"))
            .header(how, value)
            .send()
            .unwrap()
            .status()
            .as_u16()
    };
    assert_eq!(status_with("cookie", &pair), 200);

    let new = account
        .sandbox
        .run(&["token", "--admin", "--rotate"])
        .ok()
        .stdout
        .trim()
        .to_owned();
    assert!(new.starts_with("rl_admin_") && new != *old, "{new}");
    poll_until(
        "the old admin credential refused",
        Duration::from_secs(15),
        Duration::from_millis(100),
        || status_with("authorization", &format!("Bearer {old}")),
        |status| *status == 401,
    );
    assert_eq!(
        status_with("cookie", &pair),
        401,
        "its session ended with it"
    );
    assert_eq!(status_with("authorization", &format!("Bearer {new}")), 200);
    // Tools are not affected.
    assert_eq!(chat(&client, &daemon, &account.token).status(), 200);
    assert!(daemon.stop().success());
}

#[test]
fn a_token_from_before_the_split_keeps_working_as_the_default_tool_token() {
    let account = KimiAccount::new(KEY);
    let sandbox = &account.sandbox;
    // An earlier Redline kept its single local token here; tools hold it.
    let old = format!("rl_{}", "0a1b2c3d".repeat(8));
    let mut store = Command::new("secret-tool");
    store.args([
        "store",
        "--label",
        "redline local token",
        "service",
        &sandbox.service,
        "username",
        "local-token",
    ]);
    assert!(process::output(store, Some(&old)).status.success());
    assert_eq!(sandbox.token(), old);
    let mut daemon = Daemon::start(sandbox);
    assert_eq!(chat(&http(), &daemon, &old).status(), 200);
    assert!(daemon.stop().success());
}

#[test]
fn changing_where_a_key_goes_needs_the_admin_and_a_confirmed_host() {
    let (account, mut daemon) = KimiAccount::with_daemon(KEY);
    let (sandbox, tool, admin) = (&account.sandbox, &account.token, &account.admin);
    let client = http();
    let send = |token: &str, method: &str, path: &str, body: Value| {
        let answer = client
            .request(method.parse().unwrap(), daemon.url(path))
            .bearer_auth(token)
            .json(&body)
            .send()
            .unwrap();
        let status = answer.status().as_u16();
        (status, answer.json::<Value>().unwrap_or(Value::Null))
    };
    let config_before = sandbox.config_text().unwrap();
    let key_before = sandbox.keyring("account:kimi-main");

    // A tool token changes nothing: not where the key goes, not the keys.
    for (method, path, body) in [
        (
            "PUT",
            "/api/v1/settings",
            json!({"accounts.kimi-main.base_url": FOREIGN, "confirm_host": "gateway.invalid"}),
        ),
        (
            "POST",
            "/api/v1/keys/kimi-main/rotate",
            json!({"secret": "sk-kimi-AttackerKey0000000000000000", "verify": false}),
        ),
        ("POST", "/api/v1/keys/kimi-main/rollback", json!({})),
        ("DELETE", "/api/v1/keys/kimi-main", json!({})),
        (
            "POST",
            "/api/v1/keys",
            json!({"id": "evil", "provider": "kimi-code", "base_url": FOREIGN, "confirm_host": "gateway.invalid", "secret": "sk-x-0000000000000000", "verify": false}),
        ),
    ] {
        let (status, answer) = send(tool, method, path, body);
        assert_eq!(status, 403, "{method} {path}: {answer}");
        assert!(answer.to_string().contains("tool token"), "{answer}");
    }
    assert_eq!(sandbox.config_text().unwrap(), config_before);
    assert_eq!(sandbox.keyring("account:kimi-main"), key_before);
    assert_eq!(sandbox.keyring("account:evil"), None);

    // The admin: a host Kimi Code does not own needs that host confirmed; plain http to
    // another machine is refused outright.
    let change = |extra: Value| {
        let mut body = json!({"accounts.kimi-main.base_url": FOREIGN});
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        body
    };
    let (status, answer) = send(admin, "PUT", "/api/v1/settings", change(json!({})));
    assert_eq!(status, 428, "{answer}");
    assert_eq!(answer["error"]["code"], "host_not_confirmed");
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .contains("gateway.invalid"),
        "{answer}"
    );
    let (status, _) = send(
        admin,
        "PUT",
        "/api/v1/settings",
        change(json!({"confirm_host": "other.invalid"})),
    );
    assert_eq!(status, 428);
    let (status, answer) = send(
        admin,
        "PUT",
        "/api/v1/settings",
        json!({"accounts.kimi-main.base_url": "http://gateway.invalid/v1", "confirm_host": "gateway.invalid"}),
    );
    assert_eq!(status, 400, "{answer}");
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .contains("https://"),
        "{answer}"
    );
    // A new key for a foreign host is refused before it is checked (which would send it there).
    let (status, answer) = send(
        admin,
        "POST",
        "/api/v1/keys",
        json!({"id": "gw", "provider": "kimi-code", "base_url": FOREIGN, "secret": "sk-kimi-GatewayKey00000000000000", "verify": true}),
    );
    assert_eq!(
        (status, &answer["error"]["code"]),
        (428, &json!("host_not_confirmed")),
        "{answer}"
    );
    assert_eq!(
        sandbox.config_text().unwrap(),
        config_before,
        "nothing refused was saved"
    );
    assert_eq!(sandbox.keyring("account:gw"), None);

    let (status, saved) = send(
        admin,
        "PUT",
        "/api/v1/settings",
        change(json!({"confirm_host": "gateway.invalid"})),
    );
    assert_eq!(status, 200, "{saved}");
    assert_eq!(saved["accounts"]["kimi-main"]["base_url"], FOREIGN);
    let (status, added) = send(
        admin,
        "POST",
        "/api/v1/keys",
        json!({"id": "gw", "provider": "kimi-code", "base_url": FOREIGN, "confirm_host": "gateway.invalid", "secret": "sk-kimi-GatewayKey00000000000000", "verify": false}),
    );
    assert_eq!(status, 201, "{added}");
    assert!(daemon.stop().success());

    // The CLI asks the same.
    let key = "accounts.kimi-main.base_url";
    let other = "https://other.invalid/v1";
    let refused = sandbox
        .run(&["config", "set", key, other])
        .fails_with("does not belong to Kimi Code");
    assert!(
        refused.stderr.contains("--confirm-host other.invalid"),
        "{}",
        refused.stderr
    );
    sandbox
        .run(&[
            "config",
            "set",
            key,
            "http://other.invalid/v1",
            "--confirm-host",
            "other.invalid",
        ])
        .fails_with("must use https://");
    sandbox
        .run(&[
            "config",
            "set",
            key,
            other,
            "--confirm-host",
            "other.invalid",
        ])
        .ok();
    assert!(sandbox.config_text().unwrap().contains(other));
    // Keys add refuses before it reads the key.
    sandbox
        .run_stdin(
            &[
                "keys",
                "add",
                "gw2",
                "--provider",
                "kimi-code",
                "--base-url",
                other,
            ],
            KEY,
        )
        .fails_with("does not belong to Kimi Code");
    sandbox
        .run_stdin(
            &[
                "keys",
                "add",
                "gw2",
                "--provider",
                "kimi-code",
                "--base-url",
                other,
                "--confirm-host",
                "other.invalid",
                "--no-verify",
            ],
            KEY,
        )
        .ok();
}

#[test]
fn ten_token_commands_at_once_on_an_empty_keyring_print_one_token() {
    for args in [
        &["token"][..],
        &["token", "--admin"],
        &["token", "--tool", "codex"],
    ] {
        let sandbox = Sandbox::new();
        let start = Barrier::new(10);
        let printed: Vec<String> = std::thread::scope(|scope| {
            let runs: Vec<_> = (0..10)
                .map(|_| {
                    scope.spawn(|| {
                        let command = sandbox.command(args);
                        start.wait();
                        sandbox
                            .run_with(command, None)
                            .ok()
                            .stdout
                            .trim()
                            .to_owned()
                    })
                })
                .collect();
            runs.into_iter().map(|run| run.join().unwrap()).collect()
        });
        assert!(printed[0].starts_with("rl_"), "{printed:?}");
        assert!(
            printed.iter().all(|token| *token == printed[0]),
            "{args:?} printed {} different tokens",
            {
                let mut distinct = printed.clone();
                distinct.sort();
                distinct.dedup();
                distinct.len()
            }
        );
        let stored = match args {
            ["token"] => sandbox.keyring("local-token"),
            ["token", "--admin"] => sandbox.keyring("admin-token"),
            _ => sandbox.keyring("tool-tokens"),
        }
        .unwrap();
        assert!(stored.contains(&printed[0]), "{args:?}: the one stored");
    }
}
