//! OpenClaw: `~/.openclaw/openclaw.json`, JSON5. Source: openclaw/openclaw
//! `src/config/types.models.ts` (`models.providers.<id>`: `baseUrl`, `apiKey`, `api` one of
//! `openai-completions`, `openai-responses`, `anthropic-messages`, …, `headers`, and `models[]`
//! with `id`, `name`, `reasoning`, `input`, `cost`, `contextWindow`, `maxTokens`) and
//! `docs/concepts/model-providers.md` (custom providers must declare their models; the default
//! model is `agents.defaults.model.primary` = `provider/model`, or `agents.defaults.model` as a
//! plain string in older files; a set `agents.defaults.models` is an allowlist, so Redline's
//! model is added to it when there is one).

use super::{
    ApiStyle, Document, Set, Spec, ToolState, Val, entry_name, split_model_ref, state_for,
};

pub(super) const SPEC: Spec = Spec {
    shared: &[
        &["agents", "defaults", "model", "primary"],
        &["agents", "defaults", "model"],
    ],
    owned_maps: &[&["models", "providers"], &["agents", "defaults", "models"]],
};

pub(super) fn sets(doc: &Document, t: &super::Target) -> Vec<Set> {
    let id = entry_name(&t.account);
    let api = match t.style {
        ApiStyle::OpenAiChat => "openai-completions",
        ApiStyle::OpenAiResponses => "openai-responses",
        ApiStyle::AnthropicMessages => "anthropic-messages",
    };
    let mut models = vec![t.model.clone()];
    if let Some(small) = &t.small_model
        && *small != t.model
    {
        models.push(small.clone());
    }
    let model = |m: &String| {
        Val::obj(vec![
            ("id", Val::s(m)),
            ("name", Val::s(m)),
            ("reasoning", Val::Bool(false)),
            ("input", Val::Arr(vec![Val::s("text")])),
            (
                "cost",
                Val::obj(vec![
                    ("input", Val::Int(0)),
                    ("output", Val::Int(0)),
                    ("cacheRead", Val::Int(0)),
                    ("cacheWrite", Val::Int(0)),
                ]),
            ),
            ("contextWindow", Val::Int(t.context_window.into())),
            ("maxTokens", Val::Int(t.max_output_tokens.into())),
        ])
    };
    let provider = Val::obj(vec![
        ("baseUrl", Val::s(&t.base_url)),
        ("apiKey", Val::s(t.token.expose())),
        ("api", Val::s(api)),
        (
            "headers",
            Val::obj(vec![("X-Redline-Tool", Val::s("openclaw"))]),
        ),
        ("models", Val::Arr(models.iter().map(model).collect())),
    ]);
    let reference = format!("{id}/{}", t.model);
    let mut sets = vec![Set::new(&["models", "providers", &id], provider)];
    if doc
        .get(&["agents", "defaults", "model"])
        .is_some_and(|m| m.is_string())
    {
        sets.push(Set::new(
            &["agents", "defaults", "model"],
            Val::s(&reference),
        ));
    } else {
        sets.push(Set::new(
            &["agents", "defaults", "model", "primary"],
            Val::s(&reference),
        ));
    }
    if doc
        .get(&["agents", "defaults", "models"])
        .is_some_and(|m| m.is_object())
    {
        sets.push(Set::new(
            &["agents", "defaults", "models", &reference],
            Val::Obj(Vec::new()),
        ));
    }
    sets
}

pub(super) fn inspect(doc: &Document) -> ToolState {
    let primary = doc
        .string(&["agents", "defaults", "model", "primary"])
        .or_else(|| doc.string(&["agents", "defaults", "model"]));
    let Some(primary) = primary else {
        return ToolState::NotConfigured;
    };
    let Some((provider, _)) = split_model_ref(&primary) else {
        return ToolState::Direct {
            base_url: None,
            key: None,
        };
    };
    let base = doc.string(&["models", "providers", provider, "baseUrl"]);
    let key = doc.string(&["models", "providers", provider, "apiKey"]);
    match state_for(base, key) {
        // A built-in provider (keys in OpenClaw's auth profiles or the environment).
        ToolState::NotConfigured => ToolState::Direct {
            base_url: None,
            key: None,
        },
        state => state,
    }
}
