//! `redline providers`: every provider with what Redline can show for it, as the API gives it.

use crate::support::{Daemon, Sandbox, http};
use redline::providers::ProviderId;
use serde_json::Value;

#[test]
fn providers_lists_each_one_with_what_redline_shows_the_same_as_the_api() {
    let sandbox = Sandbox::new();
    let text = sandbox.run(&["providers"]).ok().stdout;
    assert!(text.starts_with("ID "), "{text}");
    for id in ProviderId::ALL {
        let line = text
            .lines()
            .find(|l| l.starts_with(&format!("{id} ")))
            .unwrap_or_else(|| panic!("{id} missing: {text}"));
        assert!(line.contains(id.display_name()), "{line}");
    }
    assert!(text.contains("quota windows, balance"), "{text}");
    let gemini = text.lines().find(|l| l.starts_with("gemini ")).unwrap();
    assert!(
        gemini.ends_with("key check and refusal causes only"),
        "{gemini}"
    );

    let json: Value =
        serde_json::from_str(&sandbox.run(&["providers", "--json"]).ok().stdout).expect("JSON");
    let daemon = Daemon::start(&sandbox);
    let api: Value = http()
        .get(daemon.url("/api/v1/providers"))
        .bearer_auth(sandbox.admin_token())
        .send()
        .unwrap()
        .json()
        .unwrap();
    let shows = |list: &Value| -> Vec<(String, Value)> {
        list.as_array()
            .unwrap()
            .iter()
            .map(|p| (p["id"].as_str().unwrap().to_owned(), p["shows"].clone()))
            .collect()
    };
    assert_eq!(shows(&json), shows(&api));
    assert_eq!(json.as_array().unwrap().len(), ProviderId::ALL.len());
    assert_eq!(json[0]["shows"], serde_json::json!(["windows", "balance"]));
}

/// A reader that went away ends the command quietly, as with any Unix tool: no panic.
#[test]
fn output_into_a_closed_pipe_ends_quietly() {
    let sandbox = Sandbox::new();
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let mut command = sandbox.command(&["providers", "--json"]);
    command.stdout(writer).stderr(std::process::Stdio::piped());
    let output = command.output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
}
