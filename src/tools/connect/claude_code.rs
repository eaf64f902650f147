//! Claude Code: `~/.claude/settings.json`, its `env` block (variables Claude Code sets for
//! itself at start-up). Sources: the Claude Code docs, "Settings" (`env` in settings.json) and
//! "LLM gateway configuration" / "Model configuration" (docs.anthropic.com/en/docs/claude-code):
//! `ANTHROPIC_BASE_URL`; `ANTHROPIC_AUTH_TOKEN` (sent as `Authorization: Bearer`);
//! `ANTHROPIC_MODEL`, `ANTHROPIC_DEFAULT_{OPUS,SONNET,HAIKU}_MODEL` (what the aliases
//! resolve to) and the older `ANTHROPIC_SMALL_FAST_MODEL` the haiku setting replaced;
//! `ANTHROPIC_CUSTOM_HEADERS` (`Name: Value` lines); `CLAUDE_CODE_MAX_CONTEXT_TOKENS`, the
//! context window of a model Claude Code does not know (it assumes 1M tokens otherwise and
//! says so on every run: "Claude Code doesn't recognize the model …", seen with 2.1.332).
//! The file is plain JSON: Claude Code loads none of a settings.json with a comment in it.

use super::{Document, EditError, Set, Spec, ToolState, Val, state_for};
use crate::providers::ProviderId;

pub(super) const SPEC: Spec = Spec {
    shared: &[
        &["env", "ANTHROPIC_BASE_URL"],
        &["env", "ANTHROPIC_AUTH_TOKEN"],
        &["env", "ANTHROPIC_API_KEY"],
        &["env", "ANTHROPIC_MODEL"],
        &["env", "ANTHROPIC_DEFAULT_OPUS_MODEL"],
        &["env", "ANTHROPIC_DEFAULT_SONNET_MODEL"],
        &["env", "ANTHROPIC_DEFAULT_HAIKU_MODEL"],
        &["env", "ANTHROPIC_SMALL_FAST_MODEL"],
        &["env", "ANTHROPIC_CUSTOM_HEADERS"],
        &["env", "CLAUDE_CODE_MAX_CONTEXT_TOKENS"],
    ],
    owned_maps: &[],
};

const HEADER: &str = "X-Redline-Tool";

pub(super) fn sets(doc: &Document, t: &super::Target) -> Result<Vec<Set>, EditError> {
    let small = t.small_model.as_deref().unwrap_or(&t.model);
    let mut sets = vec![
        Set::new(&["env", "ANTHROPIC_BASE_URL"], Val::s(&t.base_url)),
        Set::new(&["env", "ANTHROPIC_AUTH_TOKEN"], Val::s(t.token.expose())),
    ];
    // A key already in the block would be sent too (as x-api-key): it gets the token, so no
    // real key travels to Redline in a header it would not replace.
    if doc.get(&["env", "ANTHROPIC_API_KEY"]).is_some() {
        sets.push(Set::new(
            &["env", "ANTHROPIC_API_KEY"],
            Val::s(t.token.expose()),
        ));
    }
    for (name, model) in [
        ("ANTHROPIC_MODEL", t.model.as_str()),
        ("ANTHROPIC_DEFAULT_OPUS_MODEL", &t.model),
        ("ANTHROPIC_DEFAULT_SONNET_MODEL", &t.model),
        ("ANTHROPIC_DEFAULT_HAIKU_MODEL", small),
        ("ANTHROPIC_SMALL_FAST_MODEL", small),
    ] {
        sets.push(Set::new(&["env", name], Val::s(model)));
    }
    // Claude Code knows the windows of Anthropic's own models; for another provider's it
    // needs to be told.
    if !matches!(t.provider, ProviderId::Anthropic | ProviderId::Claude) {
        sets.push(Set::new(
            &["env", "CLAUDE_CODE_MAX_CONTEXT_TOKENS"],
            Val::s(t.context_window.to_string()),
        ));
    }
    // The user's own headers stay; Redline's line replaces an older one of its own.
    let mut headers: Vec<String> = doc
        .string(&["env", "ANTHROPIC_CUSTOM_HEADERS"])
        .unwrap_or_default()
        .lines()
        .filter(|l| {
            let name = l.split(':').next().unwrap_or_default().trim();
            !l.trim().is_empty() && !name.eq_ignore_ascii_case(HEADER)
        })
        .map(str::to_owned)
        .collect();
    headers.push(format!("{HEADER}: claude-code"));
    sets.push(Set::new(
        &["env", "ANTHROPIC_CUSTOM_HEADERS"],
        Val::s(headers.join("\n")),
    ));
    if let Some(env) = doc.get(&["env"])
        && !env.is_object()
    {
        return Err(EditError::Shape {
            file: super::Tool::ClaudeCode.display_path(),
            message: "`env` is not an object; Redline will not replace it".to_owned(),
        });
    }
    Ok(sets)
}

pub(super) fn inspect(doc: &Document) -> ToolState {
    let base = doc.string(&["env", "ANTHROPIC_BASE_URL"]);
    let key = doc
        .string(&["env", "ANTHROPIC_AUTH_TOKEN"])
        .or_else(|| doc.string(&["env", "ANTHROPIC_API_KEY"]));
    state_for(base, key)
}
