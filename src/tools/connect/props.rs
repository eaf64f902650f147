//! Properties of `connect`'s editors (src/props.rs says how they run), on arbitrary valid
//! config files of each format, written in the styles people use (comments, trailing commas,
//! unquoted keys, tabs, CRLF, a byte order mark, inline tables, quoted and plain YAML):
//!
//! - connecting then disconnecting gives the original back byte for byte, both when the file
//!   is as Redline wrote it and when the user changed something else since;
//! - connecting twice changes nothing the second time, and the file then points at Redline;
//! - the preview never shows the token or a key the file held;
//! - no bytes make `plan`, `undo` or `inspect` panic, and an error never quotes the file.

use super::{ApiStyle, Format, Target, Tool, ToolState, inspect, plan, undo};
use crate::keys::secret::Secret;
use crate::keys::token::generate_token;
use crate::props::{api_key, assert_no_key, config};
use crate::providers::ProviderId;
use proptest::prelude::*;
use serde_json::Value;

/// Keys the tools' files hold, so that generated files meet the editors' paths.
const KEYS: &[&str] = &[
    "env",
    "ANTHROPIC_BASE_URL",
    "ANTHROPIC_AUTH_TOKEN",
    "ANTHROPIC_API_KEY",
    "ANTHROPIC_MODEL",
    "ANTHROPIC_CUSTOM_HEADERS",
    "ANTHROPIC_SMALL_FAST_MODEL",
    "model",
    "model_provider",
    "model_providers",
    "models",
    "providers",
    "provider",
    "agents",
    "defaults",
    "primary",
    "options",
    "baseURL",
    "baseUrl",
    "base_url",
    "apiKey",
    "api_key",
    "api",
    "headers",
    "default_model",
    "small_model",
    "name",
    "id",
    "wire_api",
    "permissions",
    "theme",
    "npm",
    "openai",
    "kimi",
    "$schema",
    "max_context_size",
    "contextWindow",
    "maxTokens",
];
const WORDS: &[&str] = &[
    "kimi-for-coding",
    "gpt-5",
    "https://api.moonshot.cn/v1",
    "http://127.0.0.1:4290/x/v1",
    "openai-completions",
    "anthropic-messages",
    "responses",
    "dark",
    "allow",
    "",
    "with \"quotes\" and \\ backslash",
    "ünïcödé",
    "# not a comment",
    "a: b",
    "- item",
];
/// Top-level settings of aider's YAML file.
const YAML_KEYS: &[&str] = &[
    "model",
    "weak-model",
    "openai-api-base",
    "openai-api-key",
    "anthropic-api-key",
    "dark-mode",
    "auto-commits",
    "edit-format",
    "map-tokens",
    "read",
    "theme",
    "env-file",
];

fn target(tool: Tool) -> impl Strategy<Value = Target> {
    let model = prop_oneof![
        4 => proptest::sample::select(&["kimi-for-coding", "anthropic/claude-sonnet-4.5", "glm-4.6", "MiniMax-M2", "gpt-5-codex"][..])
            .prop_map(str::to_owned),
        1 => "[a-zA-Z0-9._/:-]{1,30}",
    ];
    (
        proptest::sample::select(tool.styles()),
        "[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?",
        proptest::sample::select(&ProviderId::ALL[..]),
        model.clone(),
        proptest::option::of(model),
        any::<u32>(),
        any::<u32>(),
        1024u16..65535,
    )
        .prop_map(
            |(
                style,
                account,
                provider,
                model,
                small_model,
                context_window,
                max_output_tokens,
                port,
            )| {
                let path = match style {
                    ApiStyle::AnthropicMessages => "/coding/",
                    _ => "/coding/v1",
                };
                Target {
                    base_url: super::route_base_url(
                        std::net::SocketAddr::from(([127, 0, 0, 1], port)),
                        &account,
                        path,
                    ),
                    account,
                    provider,
                    style,
                    model,
                    small_model,
                    context_window,
                    max_output_tokens,
                    token: generate_token(),
                }
            },
        )
}

/// How a file is laid out around its content.
#[derive(Clone, Debug)]
struct Layout {
    crlf: bool,
    bom: bool,
    final_newline: bool,
}

fn layout() -> impl Strategy<Value = Layout> {
    (any::<bool>(), prop::bool::weighted(0.1), any::<bool>()).prop_map(
        |(crlf, bom, final_newline)| Layout {
            crlf,
            bom,
            final_newline,
        },
    )
}

fn lay_out(text: &str, layout: &Layout) -> Vec<u8> {
    let mut text = text.trim_end_matches('\n').to_owned();
    if layout.final_newline {
        text.push('\n');
    }
    if layout.crlf {
        text = text.replace('\n', "\r\n");
    }
    let mut bytes = Vec::new();
    if layout.bom {
        bytes.extend_from_slice(b"\xEF\xBB\xBF");
    }
    bytes.extend_from_slice(text.as_bytes());
    bytes
}

/// How a JSON5 file is written.
#[derive(Clone, Debug)]
struct Json5Style {
    indent: &'static str,
    trailing_commas: bool,
    unquoted_keys: bool,
    comments: bool,
    /// Objects on one line (`{"a": 1}`) below this depth.
    inline_below: usize,
}

fn json5_style() -> impl Strategy<Value = Json5Style> {
    (
        proptest::sample::select(&["  ", "    ", "\t"][..]),
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        1usize..5,
    )
        .prop_map(
            |(indent, trailing_commas, unquoted_keys, comments, inline_below)| Json5Style {
                indent,
                trailing_commas,
                unquoted_keys,
                comments,
                inline_below,
            },
        )
}

fn json5_text(value: &Value, style: &Json5Style, depth: usize, out: &mut String) {
    let key_text = |key: &str| {
        let identifier = key
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == '$')
            && key
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$');
        if style.unquoted_keys && identifier {
            key.to_owned()
        } else {
            Value::String(key.to_owned()).to_string()
        }
    };
    let inline = depth >= style.inline_below;
    let (open, close, items): (char, char, Vec<(Option<String>, &Value)>) = match value {
        Value::Object(map) => (
            '{',
            '}',
            map.iter().map(|(k, v)| (Some(key_text(k)), v)).collect(),
        ),
        Value::Array(items) => ('[', ']', items.iter().map(|v| (None, v)).collect()),
        scalar => {
            out.push_str(&scalar.to_string());
            return;
        }
    };
    out.push(open);
    if items.is_empty() {
        out.push(close);
        return;
    }
    let pad = style.indent.repeat(depth + 1);
    for (i, (key, item)) in items.iter().enumerate() {
        if inline {
            if i > 0 {
                out.push(' ');
            }
        } else {
            out.push('\n');
            if style.comments && i % 2 == 1 {
                out.push_str(&pad);
                out.push_str("// a note\n");
            }
            out.push_str(&pad);
        }
        if let Some(key) = key {
            out.push_str(key);
            out.push_str(": ");
        }
        json5_text(item, style, depth + 1, out);
        if i + 1 < items.len() || (style.trailing_commas && !inline) {
            out.push(',');
        }
    }
    if !inline {
        out.push('\n');
        out.push_str(&style.indent.repeat(depth));
    }
    out.push(close);
}

/// A JSON5 settings file: an object, written in `style`.
fn json5_file() -> impl Strategy<Value = Vec<u8>> {
    (
        crate::props::json_object(KEYS, WORDS),
        json5_style(),
        layout(),
        any::<bool>(),
    )
        .prop_map(|(value, style, layout, header_comment)| {
            let mut text = String::new();
            if header_comment && style.comments {
                text.push_str("/* settings */\n");
            }
            json5_text(&value, &style, 0, &mut text);
            lay_out(&text, &layout)
        })
}

/// Plain JSON (Claude Code's settings.json reads no comments or trailing commas), in the
/// layouts users' editors leave.
fn json_file() -> impl Strategy<Value = Vec<u8>> {
    (
        crate::props::json_object(KEYS, WORDS),
        any::<bool>(),
        layout(),
    )
        .prop_map(|(value, pretty, layout)| {
            let text = match pretty {
                true => serde_json::to_string_pretty(&value),
                false => serde_json::to_string(&value),
            }
            .expect("JSON");
            lay_out(&format!("{text}\n"), &layout)
        })
}

/// A TOML value that TOML can hold: no nulls, arrays of one kind.
fn tomlable(value: &Value) -> Option<toml::Value> {
    Some(match value {
        Value::Null => return None,
        Value::Bool(b) => toml::Value::Boolean(*b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => toml::Value::Integer(i),
            None => toml::Value::Float(n.as_f64()?),
        },
        Value::String(s) => toml::Value::String(s.clone()),
        Value::Array(items) => {
            let items: Vec<toml::Value> = items
                .iter()
                .filter_map(tomlable)
                .filter(|v| !v.is_table())
                .collect();
            toml::Value::Array(items)
        }
        Value::Object(map) => toml::Value::Table(
            map.iter()
                .filter_map(|(k, v)| Some((k.clone(), tomlable(v)?)))
                .collect(),
        ),
    })
}

/// A TOML config file: tables and values, some tables inline, comments between lines.
fn toml_file() -> impl Strategy<Value = Vec<u8>> {
    (
        crate::props::json_object(KEYS, WORDS),
        layout(),
        proptest::collection::vec(any::<bool>(), 0..40),
        proptest::collection::vec(any::<bool>(), 0..40),
    )
        .prop_map(|(value, layout, inline, comments)| {
            let table = tomlable(&value).unwrap_or(toml::Value::Table(Default::default()));
            let text = toml::to_string(&table).expect("a table serialises");
            let mut doc: toml_edit::DocumentMut = text.parse().expect("reads back");
            // Some sub-tables written inline, as `x = { a = 1 }`.
            let mut flags = inline.into_iter();
            let names: Vec<String> = doc.as_table().iter().map(|(k, _)| k.to_owned()).collect();
            for name in names {
                if flags.next() == Some(true)
                    && let Some(table) = doc.get(&name).and_then(toml_edit::Item::as_table)
                {
                    let inline = table.clone().into_inline_table();
                    doc.insert(&name, toml_edit::value(inline));
                }
            }
            let mut text = String::new();
            let mut flags = comments.into_iter();
            let rendered = doc.to_string();
            for line in rendered.lines() {
                if flags.next() == Some(true) && !line.trim_start().starts_with('"') {
                    text.push_str("# a note\n");
                }
                text.push_str(line);
                text.push('\n');
            }
            lay_out(&text, &layout)
        })
}

/// A YAML settings file as aider's: `key: value` lines, lists, comments and blank lines.
fn yaml_file() -> impl Strategy<Value = Vec<u8>> {
    let scalar = prop_oneof![
        proptest::sample::select(WORDS).prop_map(|w| serde_yaml_ng::to_string(w).expect("yaml")),
        "[a-z][a-z0-9./-]{0,20}",
        any::<i32>().prop_map(|n| n.to_string()),
        any::<bool>().prop_map(|b| b.to_string()),
    ]
    .prop_map(|s| s.trim_end().to_owned());
    let value = prop_oneof![
        3 => scalar.clone().prop_map(|s| format!(" {s}")),
        1 => proptest::collection::vec(scalar, 1..3)
            .prop_map(|items| items.iter().map(|i| format!("\n  - {i}")).collect::<String>()),
    ];
    (
        proptest::collection::btree_map(
            prop_oneof![4 => proptest::sample::select(YAML_KEYS).prop_map(str::to_owned), 1 => "[a-z]{1,8}"],
            (value, any::<bool>(), any::<bool>()),
            0..8,
        ),
        layout(),
    )
        .prop_map(|(settings, layout)| {
            let mut text = String::new();
            for (key, (value, comment, blank)) in settings {
                if comment {
                    text.push_str("# a note\n");
                }
                text.push_str(&format!("{key}:{value}\n"));
                if blank {
                    text.push('\n');
                }
            }
            lay_out(&text, &layout)
        })
}

/// A tool, and a valid file of its format (None: there is none yet).
fn tool_and_file() -> impl Strategy<Value = (Tool, Option<Vec<u8>>)> {
    proptest::sample::select(&Tool::ALL[..]).prop_flat_map(|tool| {
        let file = match tool.format() {
            Format::Json => json_file().boxed(),
            Format::Json5 => json5_file().boxed(),
            Format::Toml => toml_file().boxed(),
            Format::Yaml => yaml_file().boxed(),
        };
        (Just(tool), proptest::option::weighted(0.9, file))
    })
}

/// The newline a user's editor adds to `bytes`: CRLF in a CRLF file.
fn newline_for(bytes: &[u8]) -> &'static [u8] {
    if bytes.windows(2).any(|w| w == b"\r\n") {
        b"\r\n"
    } else {
        b"\n"
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn disconnecting_gives_the_original_back_byte_for_byte(
        ((tool, original), t) in tool_and_file().prop_flat_map(|(tool, file)| ((Just(tool), Just(file)), target(tool))),
    ) {
        let original = original.as_deref();
        let edit = match plan(tool, original, &t) {
            Ok(edit) => edit,
            // A file whose settings have another shape than the tool's is refused, untouched.
            Err(super::EditError::Shape { .. }) => return Ok(()),
            Err(err) => return Err(TestCaseError::fail(format!("{err}"))),
        };
        // As Redline wrote it.
        let back = undo(tool, original, &edit.bytes, Some(&edit.bytes)).expect("undo");
        prop_assert_eq!(back.as_deref(), original);
        // The user changed something else since: a line added at the end.
        let nl = newline_for(original.unwrap_or(&edit.bytes));
        let touched = [&edit.bytes[..], nl].concat();
        let back = undo(tool, original, &edit.bytes, Some(&touched)).expect("undo");
        match original {
            Some(original) => {
                let expected = [original, nl].concat();
                let (mut back, mut expected) = (
                    String::from_utf8_lossy(back.as_deref().unwrap_or_default()).into_owned(),
                    String::from_utf8_lossy(&expected).into_owned(),
                );
                // A last line without its newline gets one when lines are added after it; the
                // user's new line is then the one after that.
                if !original.ends_with(b"\n") {
                    back = back.trim_end().to_owned();
                    expected = expected.trim_end().to_owned();
                }
                prop_assert_eq!(back, expected, "wrote:\n{}", String::from_utf8_lossy(&edit.bytes));
            }
            None => prop_assert!(
                back.as_deref().is_none_or(|b| b.iter().all(u8::is_ascii_whitespace)),
                "{:?}", back.map(|b| String::from_utf8_lossy(&b).into_owned())
            ),
        }
    }

    #[test]
    fn connecting_twice_changes_nothing_and_points_the_tool_at_redline(
        ((tool, original), t) in tool_and_file().prop_flat_map(|(tool, file)| ((Just(tool), Just(file)), target(tool))),
    ) {
        let Ok(edit) = plan(tool, original.as_deref(), &t) else {
            return Ok(());
        };
        let again = plan(tool, Some(&edit.bytes), &t).expect("plans again");
        prop_assert_eq!(
            String::from_utf8_lossy(&again.bytes),
            String::from_utf8_lossy(&edit.bytes)
        );
        prop_assert!(!edit.preview.contains(t.token.expose()), "{}", edit.preview);
        match inspect(tool, Some(&edit.bytes)).expect("reads") {
            ToolState::Redline { account, token, .. } => {
                prop_assert_eq!(account, t.account.clone());
                // aider is named by its process; its key setting holds the token all the same.
                prop_assert_eq!(token.map(|s| s.expose().to_owned()), Some(t.token.expose().to_owned()));
            }
            other => return Err(TestCaseError::fail(format!("{other:?}"))),
        }
    }

    #[test]
    fn a_key_the_file_held_never_shows_in_the_preview(
        ((tool, original), t, key, choice) in tool_and_file().prop_flat_map(|(tool, file)| ((Just(tool), Just(file)), target(tool), api_key(), any::<usize>())),
    ) {
        // The key in place of one of the file's values (JSON5 only: its values are JSON).
        let Some(original) = original else { return Ok(()) };
        let text = String::from_utf8_lossy(&original).into_owned();
        let planted = match text.match_indices('"').nth((choice % 8) * 2 + 1) {
            Some((at, _)) if matches!(tool.format(), Format::Json5) => {
                let start = text[..at].rfind('"').unwrap_or(at);
                format!("{}\"{key}\"{}", &text[..start], &text[at + 1..])
            }
            _ => return Ok(()),
        };
        if let Ok(edit) = plan(tool, Some(planted.as_bytes()), &t) {
            assert_no_key(&edit.preview, &key);
        }
    }

    #[test]
    fn no_bytes_make_the_editors_panic_and_errors_never_quote_the_file(
        tool in proptest::sample::select(&Tool::ALL[..]),
        key in api_key(),
        (prefix, suffix) in ("[ -~\\n]{0,60}", "[ -~\\n]{0,60}"),
        bytes in proptest::collection::vec(any::<u8>(), 0..120),
    ) {
        let t = Target {
            account: "a".into(),
            provider: ProviderId::KimiCode,
            base_url: "http://127.0.0.1:4290/a/coding/v1".into(),
            style: tool.styles()[0],
            model: "m".into(),
            small_model: None,
            context_window: 1,
            max_output_tokens: 1,
            token: Secret::parse("rl_0123456789abcdef0123456789abcdef").expect("valid"),
        };
        for file in [bytes.clone(), format!("{prefix}{key}{suffix}").into_bytes()] {
            if let Err(err) = plan(tool, Some(&file), &t) {
                assert_no_key(&err.to_string(), &key);
            }
            let _ = inspect(tool, Some(&file));
            let _ = undo(tool, Some(&file), &file, Some(&bytes));
            let _ = undo(tool, None, &bytes, Some(&file));
        }
    }
}
