//! Codex: `~/.codex/config.toml`. Source: openai/codex `codex-rs/core/src/model_provider_info.rs`
//! (`ModelProviderInfo`: `name`, `base_url`, `env_key`, `experimental_bearer_token`,
//! `wire_api`, `http_headers`) and `docs/config.md` (`model_provider`, `model`). Codex ignores
//! `OPENAI_BASE_URL` for a custom provider and now refuses `wire_api = "chat"`, so Redline adds
//! a provider of its own speaking the Responses API. The token goes in
//! `experimental_bearer_token`: `env_key` would need a variable in every shell that starts
//! Codex.

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
        Set::new(&["model"], Val::s(&t.model)),
    ]
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
