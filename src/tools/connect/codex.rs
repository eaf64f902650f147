//! Codex: `~/.codex/config.toml` (`$CODEX_HOME/config.toml`). Source: openai/codex
//! `codex-rs/core/src/model_provider_info.rs` (`ModelProviderInfo`: `name`, `base_url`,
//! `env_key`, `experimental_bearer_token`, `wire_api`, `http_headers`) and `docs/config.md`
//! (`model_provider`, `model`). Codex ignores `OPENAI_BASE_URL` for a custom provider and now
//! refuses `wire_api = "chat"`, so Redline adds a provider of its own speaking the Responses
//! API. The token goes in `experimental_bearer_token`: `env_key` would need a variable in every
//! shell that starts Codex.
//!
//! `model` is left alone: only OpenAI serves the Responses API, and Codex's own default (or
//! the user's choice) is an OpenAI model Codex has metadata for, while a model id Redline
//! names may be one this Codex does not know ("Model metadata for `gpt-5` not found.
//! Defaulting to fallback metadata", Codex 0.171).
//!
//! Profiles: since Codex 0.134 `--profile NAME` lays `NAME.config.toml` (beside config.toml)
//! over config.toml, and older versions read `[profiles.NAME]` tables in config.toml (current
//! ones refuse to start with a `profile = "NAME"` line). A profile that sets its own
//! `model_provider` sends `codex --profile NAME` past Redline; `connect` says so
//! ([`profile_notes`]) rather than editing files it does not keep backups of.

use super::{Document, Set, Spec, ToolState, Val, entry_name, state_for};

pub(super) const SPEC: Spec = Spec {
    shared: &[&["model_provider"], &["model"]],
    owned_maps: &[&["model_providers"]],
};

pub(super) fn sets(_doc: &Document, t: &super::Target) -> Vec<Set> {
    let id = entry_name(&t.account);
    let provider = Val::obj(vec![
        ("name", Val::s(format!("Redline ({})", t.account))),
        ("base_url", Val::s(&t.base_url)),
        ("experimental_bearer_token", Val::s(t.token.expose())),
        ("wire_api", Val::s("responses")),
        (
            "http_headers",
            Val::obj(vec![("X-Redline-Tool", Val::s("codex"))]),
        ),
    ]);
    vec![
        Set::new(&["model_providers", &id], provider),
        Set::new(&["model_provider"], Val::s(&id)),
    ]
}

/// One line per Codex profile that chooses a provider other than Redline's `redline-<account>`:
/// `[profiles.NAME]` tables in config.toml (`config`), and the profile files beside it
/// (`profile_files`: the NAME of each `NAME.config.toml`, and its text). A profile file that
/// does not parse is named as such; nothing quotes a file's text.
pub fn profile_notes(
    config: &str,
    profile_files: &[(String, String)],
    account: &str,
) -> Vec<String> {
    let ours = entry_name(account);
    let provider_of = |table: &::toml::Table| {
        table
            .get("model_provider")
            .and_then(::toml::Value::as_str)
            .map(str::to_owned)
    };
    let note = |profile: &str, place: String, provider: &str| {
        format!(
            "Codex profile {profile} ({place}) sets model_provider = {provider:?}, so `codex --profile {profile}` does not go through Redline; set model_provider = {ours:?} there to send it through Redline too."
        )
    };
    let mut notes = Vec::new();
    if let Ok(table) = config.parse::<::toml::Table>()
        && let Some(profiles) = table.get("profiles").and_then(::toml::Value::as_table)
    {
        for (name, profile) in profiles {
            if let Some(provider) = profile.as_table().and_then(provider_of)
                && provider != ours
            {
                notes.push(note(
                    name,
                    format!("[profiles.{name}] in config.toml"),
                    &provider,
                ));
            }
        }
    }
    for (name, text) in profile_files {
        let place = format!("{name}.config.toml");
        match text.parse::<::toml::Table>() {
            Ok(table) => {
                if let Some(provider) = provider_of(&table)
                    && provider != ours
                {
                    notes.push(note(name, place, &provider));
                }
            }
            Err(_) => notes.push(format!(
                "Codex profile {name} ({place}) does not parse as TOML, so Redline cannot tell where `codex --profile {name}` goes."
            )),
        }
    }
    notes
}

pub(super) fn inspect(doc: &Document) -> ToolState {
    let Some(provider) = doc.string(&["model_provider"]) else {
        return ToolState::NotConfigured;
    };
    let base = doc.string(&["model_providers", &provider, "base_url"]);
    let key = doc.string(&["model_providers", &provider, "experimental_bearer_token"]);
    match state_for(base, key) {
        // The built-in OpenAI provider (keys in auth.json or the environment).
        ToolState::NotConfigured => ToolState::Direct {
            base_url: None,
            key: None,
        },
        state => state,
    }
}
