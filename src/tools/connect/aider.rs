//! aider: `~/.aider.conf.yml`, whose keys are aider's command-line options. Source:
//! Aider-AI/aider `aider/args.py` and the docs' "YAML config file" page
//! (aider.chat/docs/config/aider_conf.html): `openai-api-base`, `openai-api-key`, `model` and
//! `weak-model`; an OpenAI-compatible endpoint's models are named `openai/<model>` (litellm).
//! The file has no setting for extra headers, so aider is named by its process.

use super::{Document, Set, Spec, ToolState, Val, state_for};

pub(super) const SPEC: Spec = Spec {
    shared: &[
        &["openai-api-base"],
        &["openai-api-key"],
        &["model"],
        &["weak-model"],
    ],
    owned_maps: &[],
};

pub(super) fn sets(_doc: &Document, t: &super::Target) -> Vec<Set> {
    let mut sets = vec![
        Set::new(&["openai-api-base"], Val::s(&t.base_url)),
        Set::new(&["openai-api-key"], Val::s(t.token.expose())),
        Set::new(&["model"], Val::s(format!("openai/{}", t.model))),
    ];
    if let Some(small) = &t.small_model {
        sets.push(Set::new(&["weak-model"], Val::s(format!("openai/{small}"))));
    }
    sets
}

pub(super) fn inspect(doc: &Document) -> ToolState {
    let base = doc.string(&["openai-api-base"]);
    let key = doc
        .string(&["openai-api-key"])
        .or_else(|| doc.string(&["anthropic-api-key"]));
    state_for(base, key)
}
