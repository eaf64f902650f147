//! The window's commands on Tauri's mock runtime, against a real engine running the built-in
//! demo (simulated providers, real proxy and API) reached over loopback HTTP as the window
//! process reaches it, with the app's real config and capability.

use super::Flags;
use crate::commands::{COMMANDS, Engine};
use redline::config::paths::Paths;
use redline::serve::api::Api;
use redline::serve::api_client::ApiClient;
use redline::serve::daemon::{self, DaemonOptions};
use serde_json::{Value, json};
use tauri::ipc::{CallbackFn, InvokeBody};
use tauri::test::{INVOKE_KEY, MockRuntime, get_ipc_response, mock_builder};
use tauri::webview::InvokeRequest;
use tauri::{WebviewWindow, WebviewWindowBuilder};

fn parse(args: &[&str]) -> Flags {
    Flags::parse(args.iter().map(|arg| arg.to_string()))
}

#[test]
fn flags_are_recognised_in_any_order_and_unknown_ones_ignored() {
    assert_eq!(parse(&[]), Flags::default());
    let both = Flags {
        demo: true,
        hidden: true,
        ..Flags::default()
    };
    assert_eq!(parse(&["--hidden", "--demo"]), both);
    assert_eq!(parse(&["--demo", "--hidden"]), both);
    assert_eq!(
        parse(&["--verbose", "--hidden"]),
        Flags {
            demo: false,
            hidden: true,
            ..Flags::default()
        }
    );
    assert!(parse(&["--window"]).window);
    assert!(parse(&["--hidden", "-h"]).help);
    assert!(parse(&["--help"]).help);
    assert!(parse(&["-V"]).version && parse(&["--version"]).version);
}

/// A demo engine on a free loopback port with an empty Redline home; lives as long as the
/// returned directory.
fn demo_engine() -> (Api, tempfile::TempDir) {
    let home = tempfile::tempdir().unwrap();
    let paths = Paths::under(home.path());
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    tauri::async_runtime::spawn(async move {
        let options = DaemonOptions {
            listen: Some("127.0.0.1:0".parse().unwrap()),
            demo: true,
            ..DaemonOptions::default()
        };
        let on_ready = move |api: Api| ready_tx.send(api).unwrap();
        daemon::serve_with(&paths, options, std::future::pending(), on_ready)
            .await
            .unwrap();
    });
    let api = ready_rx
        .recv_timeout(std::time::Duration::from_secs(30))
        .expect("the demo engine starts");
    (api, home)
}

/// The window's link to this engine, as the tray process hands it over.
fn connected(api: &Api) -> Engine {
    let (url, token) = api.local_access();
    let engine = Engine::default();
    engine.connect(ApiClient::new(&url, token).unwrap());
    engine
}

fn window(engine: Engine) -> WebviewWindow<MockRuntime> {
    let app = mock_builder()
        .manage(engine)
        .invoke_handler(crate::all_commands!())
        .build(tauri::generate_context!())
        .expect("the app builds");
    WebviewWindowBuilder::new(&app, "main", Default::default())
        .build()
        .unwrap()
}

fn invoke(window: &WebviewWindow<MockRuntime>, cmd: &str, args: Value) -> Result<Value, Value> {
    get_ipc_response(
        window,
        InvokeRequest {
            cmd: cmd.into(),
            callback: CallbackFn(0),
            error: CallbackFn(1),
            url: "tauri://localhost".parse().unwrap(),
            body: InvokeBody::Json(args),
            headers: Default::default(),
            invoke_key: INVOKE_KEY.into(),
        },
    )
    .map(|body| body.deserialize::<Value>().unwrap())
}

#[test]
fn commands_answer_from_the_running_engine() {
    let (api, _home) = demo_engine();
    let main = window(connected(&api));

    let status = invoke(&main, "get_status", json!({})).unwrap();
    assert_eq!(status["demo"], json!(true), "{status}");
    let ids: Vec<&str> = status["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["claude-demo", "kimi-demo"]);

    let refreshed = invoke(&main, "refresh", json!({})).unwrap();
    assert_eq!(refreshed["accounts"].as_array().unwrap().len(), 2);

    let providers = invoke(&main, "list_providers", json!({})).unwrap();
    assert!(
        providers
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["id"] == "kimi-code" && p["key_hint"].is_string()),
        "{providers}"
    );
    let words = invoke(&main, "get_vocabulary", json!({})).unwrap();
    assert_eq!(words["levels"][1]["word"], "Warning", "{words}");
    assert!(
        words["providers"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["id"] == "kimi-code" && p["name"].is_string()),
        "{words}"
    );
    // The demo's keys are not stored: the user's list is empty.
    assert_eq!(invoke(&main, "list_keys", json!({})).unwrap(), json!([]));
    let settings = invoke(&main, "get_settings", json!({})).unwrap();
    assert_eq!(settings["thresholds"]["warn"], json!(80), "{settings}");
    let saved = invoke(
        &main,
        "save_settings",
        json!({"changes": {"thresholds.warn": "70"}}),
    )
    .unwrap();
    assert_eq!(saved["thresholds"]["warn"], json!(70), "{saved}");
}

#[test]
fn errors_have_the_http_shape_and_never_quote_a_secret() {
    let (api, _home) = demo_engine();
    let main = window(connected(&api));

    let missing = invoke(&main, "remove_key", json!({"id": "nobody"})).unwrap_err();
    assert!(missing["error"]["code"].is_string(), "{missing}");
    assert!(
        missing["error"]["message"]
            .as_str()
            .unwrap()
            .contains("nobody"),
        "{missing}"
    );

    // An id is one path segment however it is spelled: the engine names it, no other route runs.
    let odd = invoke(&main, "test_key", json!({"id": "a/../../status?x"})).unwrap_err();
    assert!(
        odd["error"]["message"]
            .as_str()
            .unwrap()
            .contains("a/../../status?x"),
        "{odd}"
    );

    let shell = invoke(
        &main,
        "tool_setup",
        json!({"id": "kimi-demo", "shell": "tcsh"}),
    )
    .unwrap_err();
    assert!(
        shell["error"]["message"].as_str().unwrap().contains("tcsh"),
        "{shell}"
    );

    let history = invoke(
        &main,
        "get_history",
        json!({"account": "kimi-demo", "range": "day"}),
    )
    .unwrap();
    assert_eq!(history["account"], "kimi-demo", "{history}");
    let unknown = invoke(
        &main,
        "get_history",
        json!({"account": "nobody", "range": "day"}),
    )
    .unwrap_err();
    assert_eq!(unknown["error"]["code"], "no_such_account", "{unknown}");
    let throttles = invoke(&main, "list_throttles", json!({"limit": 5})).unwrap();
    assert!(throttles.is_array(), "{throttles}");
    // The demo's accounts are simulated: no tool is connected to them (nothing is read or
    // written in this home).
    let demo = invoke(
        &main,
        "connect_tool",
        json!({"tool": "openclaw", "account": "kimi-demo"}),
    )
    .unwrap_err();
    assert_eq!(demo["error"]["code"], "demo", "{demo}");
    let unknown = invoke(
        &main,
        "preview_connect",
        json!({"tool": "vim", "account": "kimi-demo"}),
    )
    .unwrap_err();
    assert_eq!(unknown["error"]["code"], "unknown_tool", "{unknown}");
    let setup = invoke(
        &main,
        "tool_setup",
        json!({"id": "kimi-demo", "shell": "sh", "tool": "openai-sdk"}),
    )
    .unwrap();
    assert!(
        setup
            .as_str()
            .unwrap()
            .starts_with("# OpenAI SDKs for kimi-demo"),
        "{setup}"
    );
    // The autostart plugin is not part of the mock app: a plain error, not a panic.
    let autostart = invoke(&main, "get_autostart", json!({})).unwrap_err();
    assert_eq!(
        autostart["error"]["code"], "autostart_unavailable",
        "{autostart}"
    );

    // A secret with a line break is refused before anything is stored, without being quoted.
    let secret = "sk-leak-check-0123456789\nsecond-line";
    let refused = invoke(
        &main,
        "rotate_key",
        json!({"id": "kimi-demo", "secret": secret, "verify": false}),
    )
    .unwrap_err();
    let text = refused.to_string();
    assert!(!text.contains("sk-leak-check"), "{text}");
    let added = invoke(
        &main,
        "add_key",
        json!({"request": {"id": "k", "provider": "kimi-code", "secret": secret}}),
    )
    .unwrap_err();
    assert!(!added.to_string().contains("sk-leak-check"), "{added}");
}

#[test]
fn before_the_engine_listens_commands_say_it_is_starting() {
    let main = window(Engine::default());
    for cmd in ["get_status", "list_keys", "list_providers"] {
        let err = invoke(&main, cmd, json!({})).unwrap_err();
        assert_eq!(err["error"]["code"], "starting", "{cmd}: {err}");
    }
}

#[test]
fn the_webview_may_call_only_the_apps_own_commands() {
    let main = window(Engine::default());
    // Core and plugin commands are not in the capability: refused by the ACL.
    for cmd in [
        "plugin:app|version",
        "plugin:window|close",
        "plugin:webview|print",
    ] {
        let err = invoke(&main, cmd, json!({})).unwrap_err();
        assert!(err.to_string().contains("not allowed"), "{cmd}: {err}");
    }
    // Every command the app declares is allowed (it answers "starting", not "not allowed").
    for cmd in COMMANDS {
        let answer = invoke(&main, cmd, json!({})).unwrap_err().to_string();
        assert!(!answer.contains("not allowed"), "{cmd}: {answer}");
    }
}

#[test]
fn when_the_engine_is_gone_commands_say_so() {
    // A loopback port nothing listens on any more.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let token = redline::keys::secret::Secret::parse("rl_0123456789abcdef").unwrap();
    let engine = Engine::default();
    engine.connect(ApiClient::new(&format!("http://127.0.0.1:{port}"), token).unwrap());
    let main = window(engine);
    let err = invoke(&main, "get_status", json!({})).unwrap_err();
    assert_eq!(err["error"]["code"], "offline", "{err}");
    assert!(
        err["error"]["message"]
            .as_str()
            .unwrap()
            .contains("quit Redline"),
        "{err}"
    );
}

#[test]
fn when_the_engine_could_not_start_commands_say_why() {
    let engine = Engine::default();
    engine.failed("cannot listen on 127.0.0.1:8787: Address already in use".into());
    let main = window(engine);
    let err = invoke(&main, "list_keys", json!({})).unwrap_err();
    assert_eq!(err["error"]["code"], "engine_failed", "{err}");
    assert_eq!(
        err["error"]["message"],
        "Redline could not start: cannot listen on 127.0.0.1:8787: Address already in use"
    );
}
