//! The Kimi Code CLI: `~/.kimi/config.toml` (the share dir, `KIMI_SHARE_DIR` when set).
//! Source: MoonshotAI/kimi-cli `src/kimi_cli/config.py` (`default_model` must name an entry of
//! `models`; `models.<name>` = `provider`, `model`, `max_context_size`; `providers.<name>` =
//! `type`, `base_url`, `api_key`, `custom_headers`) and `src/kimi_cli/llm.py` (provider types
//! `kimi`, `openai_legacy`, `openai_responses`, `anthropic`; `KIMI_BASE_URL` and `KIMI_API_KEY`
//! only override a provider already configured, hence "LLM not set" on a fresh install).

use super::{ApiStyle, Document, Set, Spec, ToolState, Val, entry_name, state_for};
use crate::providers::ProviderId;

pub(super) const SPEC: Spec = Spec {
    shared: &[&["default_model"]],
    owned_maps: &[&["providers"], &["models"]],
};

pub(super) fn sets(_doc: &Document, t: &super::Target) -> Vec<Set> {
    let id = entry_name(&t.account);
    let kind = match t.style {
        // Kimi's own chat provider speaks Kimi's extensions of OpenAI chat (reasoning,
        // prompt cache key); other OpenAI-compatible providers get the plain one.
        ApiStyle::OpenAiChat
            if matches!(t.provider, ProviderId::KimiCode | ProviderId::Moonshot) =>
        {
            "kimi"
        }
        ApiStyle::OpenAiChat => "openai_legacy",
        ApiStyle::OpenAiResponses => "openai_responses",
        ApiStyle::AnthropicMessages => "anthropic",
    };
    let provider = Val::obj(vec![
        ("type", Val::s(kind)),
        ("base_url", Val::s(&t.base_url)),
        ("api_key", Val::s(t.token.expose())),
        (
            "custom_headers",
            Val::obj(vec![("X-Redline-Tool", Val::s("kimi"))]),
        ),
    ]);
    let model = Val::obj(vec![
        ("provider", Val::s(&id)),
        ("model", Val::s(&t.model)),
        ("max_context_size", Val::Int(t.context_window.into())),
    ]);
    vec![
        Set::new(&["providers", &id], provider),
        Set::new(&["models", &id], model),
        Set::new(&["default_model"], Val::s(&id)),
    ]
}

pub(super) fn inspect(doc: &Document) -> ToolState {
    let Some(model) = doc.string(&["default_model"]).filter(|m| !m.is_empty()) else {
        return ToolState::NotConfigured;
    };
    let Some(provider) = doc.string(&["models", &model, "provider"]) else {
        return ToolState::NotConfigured;
    };
    let base = doc.string(&["providers", &provider, "base_url"]);
    let key = doc.string(&["providers", &provider, "api_key"]);
    state_for(base, key)
}
