//! opencode: `~/.config/opencode/opencode.json` (JSON with comments allowed). Source: the
//! opencode docs, "Providers" → custom provider (opencode.ai/docs/providers): `provider.<id>`
//! with `npm` (`@ai-sdk/openai-compatible`, or `@ai-sdk/anthropic`), `name`,
//! `options.baseURL`, `options.apiKey`, `options.headers`, and `models.<model id>.name`; the
//! default is `model` = `provider/model`, and `small_model` likewise. The AI SDK's Anthropic
//! provider takes a base URL that ends in `/v1`.

use super::{
    ApiStyle, Document, Set, Spec, ToolState, Val, entry_name, split_model_ref, state_for,
};

pub(super) const SPEC: Spec = Spec {
    shared: &[&["model"], &["small_model"]],
    owned_maps: &[&["provider"]],
};

pub(super) fn sets(_doc: &Document, t: &super::Target) -> Vec<Set> {
    let id = entry_name(&t.account);
    let (npm, base) = match t.style {
        ApiStyle::AnthropicMessages => (
            "@ai-sdk/anthropic",
            format!("{}/v1", t.base_url.trim_end_matches('/')),
        ),
        _ => ("@ai-sdk/openai-compatible", t.base_url.clone()),
    };
    let mut models = vec![(t.model.clone(), Val::obj(vec![("name", Val::s(&t.model))]))];
    if let Some(small) = &t.small_model
        && *small != t.model
    {
        models.push((small.clone(), Val::obj(vec![("name", Val::s(small))])));
    }
    let provider = Val::obj(vec![
        ("npm", Val::s(npm)),
        ("name", Val::s(format!("Redline ({})", t.account))),
        (
            "options",
            Val::obj(vec![
                ("baseURL", Val::s(base)),
                ("apiKey", Val::s(t.token.expose())),
                (
                    "headers",
                    Val::obj(vec![("X-Redline-Tool", Val::s("opencode"))]),
                ),
            ]),
        ),
        ("models", Val::Obj(models)),
    ]);
    let mut sets = vec![
        Set::new(&["provider", &id], provider),
        Set::new(&["model"], Val::s(format!("{id}/{}", t.model))),
    ];
    if let Some(small) = &t.small_model {
        sets.push(Set::new(&["small_model"], Val::s(format!("{id}/{small}"))));
    }
    sets
}

pub(super) fn inspect(doc: &Document) -> ToolState {
    let Some(model) = doc.string(&["model"]) else {
        return ToolState::NotConfigured;
    };
    let Some((provider, _)) = split_model_ref(&model) else {
        return ToolState::NotConfigured;
    };
    let base = doc.string(&["provider", provider, "options", "baseURL"]);
    let key = doc.string(&["provider", provider, "options", "apiKey"]);
    match state_for(base, key) {
        ToolState::NotConfigured => ToolState::Direct {
            base_url: None,
            key: None,
        },
        state => state,
    }
}
