use super::*;

const TOKEN: &str = "rl_tooltoken_0123456789abcdefWXYZ";
const REAL_KEY: &str = "sk-kimi-realkey0123456789abcdefghij";

fn target(style: ApiStyle) -> Target {
    let base_url = match style {
        ApiStyle::AnthropicMessages => "http://127.0.0.1:4290/kimi-main/coding/",
        _ => "http://127.0.0.1:4290/kimi-main/coding/v1",
    };
    Target {
        account: "kimi-main".to_owned(),
        provider: ProviderId::KimiCode,
        base_url: base_url.to_owned(),
        style,
        model: "kimi-for-coding".to_owned(),
        small_model: None,
        context_window: 262_144,
        max_output_tokens: 32_768,
        token: Secret::parse(TOKEN).unwrap(),
    }
}

fn best(tool: Tool) -> Target {
    target(tool.styles()[0])
}

fn text(bytes: &[u8]) -> &str {
    std::str::from_utf8(bytes).unwrap()
}

/// The edit reads back with the format's own, independent parser; a strict JSON original
/// stays strict JSON.
fn assert_valid(tool: Tool, original: Option<&str>, out: &[u8]) {
    let out = text(out).trim_start_matches('\u{feff}');
    match tool.format() {
        Format::Json => {
            serde_json::from_str::<Value>(out)
                .unwrap_or_else(|e| panic!("not plain JSON: {e}\n{out}"));
        }
        Format::Json5 => {
            json5::from_str_value(out);
            let strict = original
                .is_none_or(|o| o.trim().is_empty() || serde_json::from_str::<Value>(o).is_ok());
            if strict {
                serde_json::from_str::<Value>(out)
                    .unwrap_or_else(|e| panic!("not strict JSON any more: {e}\n{out}"));
            }
        }
        Format::Toml => {
            ::toml::from_str::<::toml::Table>(out).unwrap_or_else(|e| panic!("{e}\n{out}"));
        }
        Format::Yaml => {
            serde_yaml_ng::from_str::<serde_yaml_ng::Value>(out)
                .unwrap_or_else(|e| panic!("{e}\n{out}"));
        }
    }
}

/// Connects, checks the result reads back, that disconnecting an untouched file gives the
/// exact original bytes, and returns the edit.
fn connect(tool: Tool, original: Option<&str>, t: &Target) -> Edit {
    let edit = plan(tool, original.map(str::as_bytes), t).unwrap();
    assert_valid(tool, original, &edit.bytes);
    assert!(
        !edit.preview.contains(TOKEN) && !edit.preview.contains(REAL_KEY),
        "no secret in the preview:\n{}",
        edit.preview
    );
    assert!(!format!("{edit:?}").contains(TOKEN));
    let back = undo(
        tool,
        original.map(str::as_bytes),
        &edit.bytes,
        Some(&edit.bytes),
    )
    .unwrap();
    assert_eq!(back.as_deref(), original.map(str::as_bytes));
    edit
}

fn get(tool: Tool, bytes: &[u8], path: &[&str]) -> Option<Value> {
    let text = Text::decode(Some(bytes), "f").unwrap();
    Document::parse(tool.format(), &text.body, "f")
        .unwrap()
        .get(path)
}

fn s(v: &str) -> Option<Value> {
    Some(Value::String(v.to_owned()))
}

/// A user's edit after `connect`, applied the same way to the original to get what
/// `disconnect` should give back: a new top-level setting at the start.
fn user_edit(tool: Tool, text: &str) -> String {
    let nl = if text.contains("\r\n") { "\r\n" } else { "\n" };
    match tool.format() {
        Format::Json | Format::Json5 => {
            text.replacen('{', &format!("{{{nl}  \"theme\": \"dark\","), 1)
        }
        Format::Toml => format!("theme = \"dark\"{nl}{text}"),
        Format::Yaml => format!("theme: dark{nl}{text}"),
    }
}

/// After a user's edit, `disconnect` removes exactly Redline's part.
fn assert_undo_keeps_user_edit(tool: Tool, original: &str, t: &Target) {
    let edit = connect(tool, Some(original), t);
    let current = user_edit(tool, text(&edit.bytes));
    let back = undo(
        tool,
        Some(original.as_bytes()),
        &edit.bytes,
        Some(current.as_bytes()),
    )
    .unwrap()
    .unwrap();
    assert_eq!(text(&back), user_edit(tool, original));
}

mod json5 {
    //! The span-keeping JSON5 editor on its own.
    use super::super::json5::Doc;
    use super::*;

    pub fn from_str_value(text: &str) -> Value {
        ::json5::from_str::<Value>(text).unwrap_or_else(|e| panic!("json5 crate: {e}\n{text}"))
    }

    fn doc(text: &str) -> Doc {
        Doc::parse(text, "f.json").unwrap()
    }

    fn set(text: &str, path: &[&str], value: Val) -> String {
        let mut d = doc(text);
        d.set(path, &value).unwrap();
        let out = d.text().to_owned();
        from_str_value(&out);
        out
    }

    fn remove(text: &str, path: &[&str]) -> String {
        let mut d = doc(text);
        d.remove(path).unwrap();
        d.text().to_owned()
    }

    #[test]
    fn reads_what_the_json5_crate_reads() {
        let text = "// top\n{\n  unquoted: 'single \\' quote',\n  \"double\": \"a\\u00e9\\x41\\\n b\",\n  hex: 0x1F, neg: -2, frac: .5, exp: 1e3, plus: +1,\n  nested: { list: [1, 'two', { three: true, }, null,], },\n  /* block */ last: false,\n}\n";
        assert_eq!(doc(text).get(&[]).unwrap(), from_str_value(text));
    }

    #[test]
    fn an_insert_keeps_comments_and_layout() {
        let text = "{\n  // the model I like\n  \"model\": \"o3\", // inline\n  /* block */\n  \"other\": 1 // last\n}\n";
        let out = set(text, &["env", "A"], Val::s("b"));
        assert_eq!(
            out,
            "{\n  // the model I like\n  \"model\": \"o3\", // inline\n  /* block */\n  \"other\": 1, // last\n  \"env\": {\n    \"A\": \"b\"\n  }\n}\n"
        );
        assert_eq!(remove(&out, &["env"]), text, "removing gives the text back");
    }

    #[test]
    fn trailing_commas_stay_trailing_commas() {
        let text = "{\n  a: 1,\n  b: [1, 2,],\n}\n";
        let out = set(text, &["c"], Val::Int(3));
        assert_eq!(out, "{\n  a: 1,\n  b: [1, 2,],\n  \"c\": 3,\n}\n");
        assert_eq!(remove(&out, &["c"]), text);
    }

    #[test]
    fn replacing_a_value_keeps_the_key_as_spelled_and_the_comment() {
        let text = "{\n  'apiKey': 'old', // keep me\n  model: \"x\",\n}";
        let out = set(text, &["apiKey"], Val::s("new"));
        assert_eq!(
            out,
            "{\n  'apiKey': \"new\", // keep me\n  model: \"x\",\n}"
        );
        let out = set(text, &["model"], Val::s("y"));
        assert_eq!(out, "{\n  'apiKey': 'old', // keep me\n  model: \"y\",\n}");
    }

    #[test]
    fn deep_paths_are_made_inside_existing_objects() {
        let text = "{\n\tagents: {\n\t\tdefaults: { workspace: \"~/w\" },\n\t},\n}\n";
        let out = set(
            text,
            &["agents", "defaults", "model", "primary"],
            Val::s("p/m"),
        );
        assert_eq!(
            out,
            "{\n\tagents: {\n\t\tdefaults: { workspace: \"~/w\", \"model\": {\"primary\":\"p/m\"} },\n\t},\n}\n"
        );
        let out = set(
            text,
            &["agents", "list"],
            Val::Arr(vec![Val::obj(vec![("id", Val::s("main"))])]),
        );
        assert_eq!(
            out,
            "{\n\tagents: {\n\t\tdefaults: { workspace: \"~/w\" },\n\t\t\"list\": [\n\t\t\t{\n\t\t\t\t\"id\": \"main\"\n\t\t\t}\n\t\t],\n\t},\n}\n"
        );
    }

    #[test]
    fn empty_and_comment_only_files_get_an_object() {
        assert_eq!(set("", &["a"], Val::Int(1)), "{\n  \"a\": 1\n}\n");
        assert_eq!(set("  \n", &["a"], Val::Int(1)), "  \n{\n  \"a\": 1\n}\n");
        assert_eq!(
            set("// settings\n", &["a"], Val::Int(1)),
            "// settings\n{\n  \"a\": 1\n}\n"
        );
        assert_eq!(set("{}", &["a"], Val::Int(1)), "{\n  \"a\": 1\n}");
        assert_eq!(
            set("{\n  // nothing yet\n}", &["a"], Val::Int(1)),
            "{\n  \"a\": 1\n  // nothing yet\n}"
        );
        assert_eq!(remove("{\n  \"a\": 1\n}", &["a"]), "{}");
    }

    #[test]
    fn a_value_replaced_in_a_one_line_object_stays_on_its_line() {
        // Found by connect/props.rs: inserted there it was written on one line, replaced (by
        // connecting again) on several, so connecting twice changed the file.
        let once = set(
            r#"{"p": {"a": 1}}"#,
            &["p", "b"],
            Val::obj(vec![("x", Val::Int(1))]),
        );
        assert_eq!(once, r#"{"p": {"a": 1, "b": {"x":1}}}"#);
        let twice = set(&once, &["p", "b"], Val::obj(vec![("x", Val::Int(1))]));
        assert_eq!(twice, once);
    }

    #[test]
    fn one_line_objects_stay_on_one_line() {
        assert_eq!(
            set("{\"a\": 1}", &["b"], Val::Int(2)),
            "{\"a\": 1, \"b\": 2}"
        );
        assert_eq!(set("{a: 1,}", &["b"], Val::Int(2)), "{a: 1, \"b\": 2,}");
        assert_eq!(remove("{\"a\": 1, \"b\": 2}", &["b"]), "{\"a\": 1}");
        assert_eq!(remove("{\"a\": 1, \"b\": 2}", &["a"]), "{\"b\": 2}");
    }

    #[test]
    fn removing_the_last_member_takes_the_comma_before_it() {
        let text = "{\n  \"a\": 1,\n  \"b\": 2\n}";
        assert_eq!(remove(text, &["b"]), "{\n  \"a\": 1\n}");
        serde_json::from_str::<Value>(&remove(text, &["b"])).unwrap();
    }

    #[test]
    fn a_value_on_the_way_that_is_not_an_object_is_refused() {
        let mut d = doc("{\"env\": \"oops\"}");
        let err = d.set(&["env", "A"], &Val::s("b")).unwrap_err();
        assert!(matches!(err, EditError::Shape { .. }), "{err}");
        assert_eq!(d.text(), "{\"env\": \"oops\"}");
    }

    #[test]
    fn errors_say_where_and_what() {
        let cases = [
            ("{\n  \"a\": 1\n  \"b\": 2\n}", 3, 3, "expected , or }"),
            ("{\n  \"a\": \n}", 3, 1, "unexpected character"),
            ("{\n  \"a\": \"open\n}", 2, 13, "line break inside a string"),
            ("{ /* never closed", 1, 3, "never closed"),
            ("{\"a\": 1", 1, 1, "never closed"),
            ("{\"a\": 1}}", 1, 9, "after the end"),
            ("{\"a\": tru}", 1, 7, "a value must be"),
            ("{\"a\": 0x}", 1, 7, "hexadecimal"),
            ("[1, 2]", 0, 0, "top level is not an object"),
        ];
        for (text, line, column, what) in cases {
            let err = Doc::parse(text, "f.json").unwrap_err();
            let message = err.to_string();
            assert!(message.contains(what), "{text:?}: {message}");
            if line > 0 {
                assert_eq!(
                    err,
                    EditError::Parse {
                        file: "f.json".into(),
                        line,
                        column,
                        message: match &err {
                            EditError::Parse { message, .. } => message.clone(),
                            _ => unreachable!(),
                        },
                    },
                    "{text:?}"
                );
            }
        }
    }

    #[test]
    fn deep_nesting_is_refused_not_overflowed() {
        let text = format!("{{\"a\": {}{}}}", "[".repeat(10_000), "]".repeat(10_000));
        let err = Doc::parse(&text, "f.json").unwrap_err();
        assert!(err.to_string().contains("too deeply"), "{err}");
    }
}

mod claude_code {
    use super::*;

    const SETTINGS: &str = r#"{
  "$schema": "https://json.schemastore.org/claude-code-settings.json",
  "permissions": {
    "allow": ["Bash(npm run lint)"]
  },
  "env": {
    "DISABLE_TELEMETRY": "1"
  }
}
"#;

    #[test]
    fn sets_route_token_models_and_header_in_env() {
        let t = best(Tool::ClaudeCode);
        let edit = connect(Tool::ClaudeCode, Some(SETTINGS), &t);
        let b = &edit.bytes;
        let env = |k| get(Tool::ClaudeCode, b, &["env", k]);
        assert_eq!(
            env("ANTHROPIC_BASE_URL"),
            s("http://127.0.0.1:4290/kimi-main/coding/")
        );
        assert_eq!(env("ANTHROPIC_AUTH_TOKEN"), s(TOKEN));
        assert_eq!(env("ANTHROPIC_API_KEY"), None);
        assert_eq!(env("ANTHROPIC_MODEL"), s("kimi-for-coding"));
        assert_eq!(env("ANTHROPIC_DEFAULT_HAIKU_MODEL"), s("kimi-for-coding"));
        assert_eq!(env("ANTHROPIC_SMALL_FAST_MODEL"), s("kimi-for-coding"));
        assert_eq!(
            env("ANTHROPIC_CUSTOM_HEADERS"),
            s("X-Redline-Tool: claude-code")
        );
        assert_eq!(env("DISABLE_TELEMETRY"), s("1"));
        assert!(text(b).starts_with(
            "{\n  \"$schema\": \"https://json.schemastore.org/claude-code-settings.json\",\n  \"permissions\": {\n    \"allow\": [\"Bash(npm run lint)\"]\n  },\n  \"env\": {\n    \"DISABLE_TELEMETRY\": \"1\",\n    \"ANTHROPIC_BASE_URL\""
        ));
        assert!(
            edit.preview
                .contains("+ env.ANTHROPIC_BASE_URL = \"http://127.0.0.1:4290/kimi-main/coding/\""),
            "{}",
            edit.preview
        );
        assert!(
            edit.preview.contains("rl_"),
            "the token shows as a fingerprint"
        );
        assert!(!edit.creates);
    }

    #[test]
    fn a_missing_file_is_created_and_undo_deletes_it() {
        let edit = connect(Tool::ClaudeCode, None, &best(Tool::ClaudeCode));
        assert!(edit.creates);
        assert!(text(&edit.bytes).starts_with("{\n  \"env\": {\n    \"ANTHROPIC_BASE_URL\""));
        // The user added a setting of their own: disconnect keeps just that.
        let current = user_edit(Tool::ClaudeCode, text(&edit.bytes));
        let back = undo(
            Tool::ClaudeCode,
            None,
            &edit.bytes,
            Some(current.as_bytes()),
        )
        .unwrap()
        .unwrap();
        assert_eq!(text(&back), "{\n  \"theme\": \"dark\"\n}\n");
    }

    #[test]
    fn a_real_key_in_env_is_replaced_by_the_token_and_restored() {
        let original = format!(
            "{{\n  \"env\": {{\n    \"ANTHROPIC_API_KEY\": \"{REAL_KEY}\",\n    \"ANTHROPIC_CUSTOM_HEADERS\": \"X-Team: a\\nX-Redline-Tool: old\"\n  }}\n}}\n"
        );
        assert_eq!(
            inspect(Tool::ClaudeCode, Some(original.as_bytes())).unwrap(),
            ToolState::Direct {
                base_url: None,
                key: Some(Secret::parse(REAL_KEY).unwrap())
            }
        );
        let edit = connect(Tool::ClaudeCode, Some(&original), &best(Tool::ClaudeCode));
        let b = &edit.bytes;
        assert_eq!(
            get(Tool::ClaudeCode, b, &["env", "ANTHROPIC_API_KEY"]),
            s(TOKEN)
        );
        assert_eq!(
            get(Tool::ClaudeCode, b, &["env", "ANTHROPIC_CUSTOM_HEADERS"]),
            s("X-Team: a\nX-Redline-Tool: claude-code")
        );
        assert!(!text(b).contains(REAL_KEY));
        assert!(
            edit.preview.contains("(was \"sk-kimi-…ghij\")"),
            "{}",
            edit.preview
        );
        assert_undo_keeps_user_edit(Tool::ClaudeCode, &original, &best(Tool::ClaudeCode));
    }

    #[test]
    fn undo_keeps_a_setting_the_user_changed_since() {
        let t = best(Tool::ClaudeCode);
        let edit = connect(Tool::ClaudeCode, Some(SETTINGS), &t);
        let current = text(&edit.bytes).replace(
            "\"ANTHROPIC_MODEL\": \"kimi-for-coding\"",
            "\"ANTHROPIC_MODEL\": \"my-choice\"",
        );
        let back = undo(
            Tool::ClaudeCode,
            Some(SETTINGS.as_bytes()),
            &edit.bytes,
            Some(current.as_bytes()),
        )
        .unwrap()
        .unwrap();
        assert_eq!(
            text(&back),
            SETTINGS.replace(
                "\"DISABLE_TELEMETRY\": \"1\"",
                "\"DISABLE_TELEMETRY\": \"1\",\n    \"ANTHROPIC_MODEL\": \"my-choice\""
            )
        );
        assert_undo_keeps_user_edit(Tool::ClaudeCode, SETTINGS, &t);
    }

    #[test]
    fn through_redline_is_recognised() {
        let edit = connect(Tool::ClaudeCode, Some(SETTINGS), &best(Tool::ClaudeCode));
        assert_eq!(
            inspect(Tool::ClaudeCode, Some(&edit.bytes)).unwrap(),
            ToolState::Redline {
                address: "127.0.0.1:4290".into(),
                account: "kimi-main".into(),
                token: Some(Secret::parse(TOKEN).unwrap()),
            }
        );
        assert_eq!(
            inspect(Tool::ClaudeCode, None).unwrap(),
            ToolState::NotConfigured
        );
        assert_eq!(
            inspect(Tool::ClaudeCode, Some(SETTINGS.as_bytes())).unwrap(),
            ToolState::NotConfigured
        );
    }

    #[test]
    fn another_providers_model_gets_its_context_window_and_claudes_own_do_not() {
        let edit = connect(Tool::ClaudeCode, None, &best(Tool::ClaudeCode));
        assert_eq!(
            get(
                Tool::ClaudeCode,
                &edit.bytes,
                &["env", "CLAUDE_CODE_MAX_CONTEXT_TOKENS"]
            ),
            s("262144")
        );
        let mut anthropic = best(Tool::ClaudeCode);
        anthropic.provider = ProviderId::Anthropic;
        anthropic.model = "claude-sonnet-4-5".into();
        let edit = connect(Tool::ClaudeCode, None, &anthropic);
        assert!(!text(&edit.bytes).contains("CLAUDE_CODE_MAX_CONTEXT_TOKENS"));
    }

    #[test]
    fn a_file_claude_code_cannot_read_is_refused_with_its_place() {
        // Claude Code 2.1.332 says "Invalid or malformed JSON" to each and loads none of it.
        for (file, line, column) in [
            ("{\n  // my theme\n  \"theme\": \"dark\"\n}\n", 2, 3),
            ("{\n  \"theme\": \"dark\",\n}\n", 3, 1),
            ("{\n  theme: 'dark'\n}\n", 2, 3),
        ] {
            let err = plan(
                Tool::ClaudeCode,
                Some(file.as_bytes()),
                &best(Tool::ClaudeCode),
            )
            .unwrap_err();
            let EditError::Parse {
                line: l, column: c, ..
            } = &err
            else {
                panic!("{err}")
            };
            assert_eq!((*l, *c), (line, column), "{err}");
            assert!(
                err.to_string().starts_with(&format!(
                    "~/.claude/settings.json, line {line}, column {column}: not plain JSON ("
                )),
                "{err}"
            );
            assert!(
                err.to_string()
                    .contains("without comments or trailing commas")
            );
            assert!(inspect(Tool::ClaudeCode, Some(file.as_bytes())).is_err());
        }
    }

    #[test]
    fn an_env_that_is_not_an_object_is_refused() {
        let err = plan(
            Tool::ClaudeCode,
            Some(b"{\"env\": []}"),
            &best(Tool::ClaudeCode),
        )
        .unwrap_err();
        assert!(err.to_string().contains("`env` is not an object"), "{err}");
    }

    #[test]
    fn only_anthropic_style_is_accepted() {
        let err = plan(Tool::ClaudeCode, None, &target(ApiStyle::OpenAiChat)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "Claude Code cannot use OpenAI chat completions APIs; it speaks Anthropic messages"
        );
    }
}

mod codex {
    use super::*;

    const CONFIG: &str = r#"# Codex settings
model = "o3" # the default I like
approval_policy = "on-request"

[model_providers.ollama]
name = "Ollama"
base_url = "http://localhost:11434/v1"

# profiles below
[profiles.fast]
model = "gpt-5-mini"
"#;

    #[test]
    fn adds_a_responses_provider_and_selects_it() {
        let edit = connect(Tool::Codex, Some(CONFIG), &best(Tool::Codex));
        let out = text(&edit.bytes);
        assert_eq!(
            out,
            r#"# Codex settings
model = "o3" # the default I like
approval_policy = "on-request"
model_provider = "redline-kimi-main"

[model_providers.ollama]
name = "Ollama"
base_url = "http://localhost:11434/v1"

[model_providers.redline-kimi-main]
name = "Redline (kimi-main)"
base_url = "http://127.0.0.1:4290/kimi-main/coding/v1"
experimental_bearer_token = "rl_tooltoken_0123456789abcdefWXYZ"
wire_api = "responses"
http_headers = { X-Redline-Tool = "codex" }

# profiles below
[profiles.fast]
model = "gpt-5-mini"
"#
        );
        assert!(
            !edit.preview.contains("model ="),
            "Codex keeps its own model choice: {}",
            edit.preview
        );
        assert_eq!(
            inspect(Tool::Codex, Some(&edit.bytes)).unwrap(),
            ToolState::Redline {
                address: "127.0.0.1:4290".into(),
                account: "kimi-main".into(),
                token: Some(Secret::parse(TOKEN).unwrap()),
            }
        );
        assert_undo_keeps_user_edit(Tool::Codex, CONFIG, &best(Tool::Codex));
    }

    #[test]
    fn a_missing_file_gets_a_minimal_config() {
        let edit = connect(Tool::Codex, None, &best(Tool::Codex));
        let out = text(&edit.bytes);
        assert!(
            out.starts_with(
                "model_provider = \"redline-kimi-main\"\n\n[model_providers.redline-kimi-main]\n"
            ),
            "{out}"
        );
        assert!(
            !out.contains("[model_providers]\n"),
            "the parent table stays implicit"
        );
        let current = user_edit(Tool::Codex, out);
        let back = undo(Tool::Codex, None, &edit.bytes, Some(current.as_bytes()))
            .unwrap()
            .unwrap();
        assert_eq!(text(&back), "theme = \"dark\"\n");
    }

    #[test]
    fn crlf_stays_crlf() {
        let original = CONFIG.replace('\n', "\r\n");
        let edit = connect(Tool::Codex, Some(&original), &best(Tool::Codex));
        let out = text(&edit.bytes);
        assert_eq!(
            out.matches('\n').count(),
            out.matches("\r\n").count(),
            "{out:?}"
        );
        assert_undo_keeps_user_edit(Tool::Codex, &original, &best(Tool::Codex));
    }

    #[test]
    fn profiles_with_a_provider_of_their_own_are_named() {
        let config = "model_provider = \"redline-kimi-main\"\n[profiles.fast]\nmodel = \"o3\"\n[profiles.local]\nmodel_provider = \"ollama\"\n[profiles.same]\nmodel_provider = \"redline-kimi-main\"\n";
        let files = [
            ("work".to_owned(), "model_provider = \"azure\"\n".to_owned()),
            ("quiet".to_owned(), "model = \"o3\"\n".to_owned()),
            (
                "broken".to_owned(),
                format!("key = \"{REAL_KEY}\"\nkey = 2\n"),
            ),
        ];
        let notes = codex_profile_notes(config, &files, "kimi-main");
        assert_eq!(notes.len(), 3, "{notes:#?}");
        assert_eq!(
            notes[0],
            "Codex profile local ([profiles.local] in config.toml) sets model_provider = \"ollama\", so `codex --profile local` does not go through Redline; set model_provider = \"redline-kimi-main\" there to send it through Redline too."
        );
        assert!(
            notes[1].starts_with(
                "Codex profile work (work.config.toml) sets model_provider = \"azure\""
            ),
            "{notes:#?}"
        );
        assert!(notes[2].contains("broken.config.toml) does not parse"));
        assert!(!notes.concat().contains(REAL_KEY));
        assert!(codex_profile_notes("", &[], "kimi-main").is_empty());
    }

    #[test]
    fn a_table_where_a_setting_goes_is_refused_not_replaced() {
        // Found by connect/props.rs: a [model] table was replaced by `model = "…"`, and put
        // back after other tables on disconnect.
        // Codex no longer gets `model`, so the same is tried with `model_provider`.
        let original = "[model_provider]\nname = \"mine\"\n\n[other]\n";
        let err = plan(Tool::Codex, Some(original.as_bytes()), &best(Tool::Codex)).unwrap_err();
        assert!(
            err.to_string().contains("model_provider is a table"),
            "{err}"
        );
    }

    #[test]
    fn a_broken_file_is_refused_with_its_line() {
        let broken = "model = \"o3\"\n[model_providers.x\nname = 1\n";
        let err = plan(Tool::Codex, Some(broken.as_bytes()), &best(Tool::Codex)).unwrap_err();
        let EditError::Parse { file, line, .. } = &err else {
            panic!("{err}")
        };
        assert_eq!((file.as_str(), *line), ("~/.codex/config.toml", 2));
        assert!(err.to_string().contains("left the file untouched"), "{err}");
        let secret = format!("key = \"{REAL_KEY}\"\nkey = 2\n");
        let err = plan(Tool::Codex, Some(secret.as_bytes()), &best(Tool::Codex)).unwrap_err();
        assert!(
            !err.to_string().contains(REAL_KEY),
            "errors never quote the file: {err}"
        );
    }

    #[test]
    fn states() {
        assert_eq!(
            inspect(Tool::Codex, None).unwrap(),
            ToolState::NotConfigured
        );
        assert_eq!(
            inspect(Tool::Codex, Some(b"model_provider = \"openai\"\n")).unwrap(),
            ToolState::Direct {
                base_url: None,
                key: None
            }
        );
        assert!(plan(Tool::Codex, None, &target(ApiStyle::OpenAiChat)).is_err());
    }
}

mod openclaw {
    use super::*;

    const CONFIG: &str = "// OpenClaw config\n{\n  agents: {\n    defaults: {\n      model: { primary: 'anthropic/claude-opus-4-6', fallbacks: [], },\n      workspace: \"~/.openclaw/workspace\",\n    },\n  },\n  models: {\n    providers: {\n      kimi: { baseUrl: 'https://api.kimi.com/coding/', apiKey: 'sk-kimi-realkey0123456789abcdefghij', api: 'anthropic-messages', models: [{ id: 'k2p5', name: 'K2.5' }] },\n    },\n  },\n}\n";

    #[test]
    fn adds_a_provider_with_models_and_makes_it_primary() {
        let t = best(Tool::OpenClaw);
        assert_eq!(t.style, ApiStyle::AnthropicMessages);
        let edit = connect(Tool::OpenClaw, Some(CONFIG), &t);
        let b = &edit.bytes;
        let out = text(b);
        assert!(out.starts_with("// OpenClaw config\n{\n  agents: {\n    defaults: {\n      model: { primary: \"redline-kimi-main/kimi-for-coding\", fallbacks: [], },\n"), "{out}");
        let p = |k| {
            get(
                Tool::OpenClaw,
                b,
                &["models", "providers", "redline-kimi-main", k],
            )
        };
        assert_eq!(p("baseUrl"), s("http://127.0.0.1:4290/kimi-main/coding/"));
        assert_eq!(p("apiKey"), s(TOKEN));
        assert_eq!(p("api"), s("anthropic-messages"));
        assert_eq!(
            p("headers"),
            Some(serde_json::json!({"X-Redline-Tool": "openclaw"}))
        );
        assert_eq!(
            p("models"),
            Some(serde_json::json!([{
                "id": "kimi-for-coding", "name": "kimi-for-coding", "reasoning": false,
                "input": ["text"], "cost": {"input": 0, "output": 0, "cacheRead": 0, "cacheWrite": 0},
                "contextWindow": 262144, "maxTokens": 32768
            }]))
        );
        // The user's provider is untouched, and its key does not show in the preview.
        assert!(
            out.contains(
                "kimi: { baseUrl: 'https://api.kimi.com/coding/', apiKey: 'sk-kimi-realkey"
            )
        );
        assert!(
            edit.preview.contains("(was \"anthropic/claude-opus-4-6\")"),
            "{}",
            edit.preview
        );
        assert_eq!(
            inspect(Tool::OpenClaw, Some(CONFIG.as_bytes())).unwrap(),
            ToolState::Direct {
                base_url: None,
                key: None
            },
            "anthropic/… is OpenClaw's built-in provider"
        );
        assert!(matches!(
            inspect(Tool::OpenClaw, Some(b)).unwrap(),
            ToolState::Redline { .. }
        ));
        assert_undo_keeps_user_edit(Tool::OpenClaw, CONFIG, &t);
    }

    #[test]
    fn each_style_has_its_api_kind() {
        for (style, api) in [
            (ApiStyle::OpenAiChat, "openai-completions"),
            (ApiStyle::OpenAiResponses, "openai-responses"),
            (ApiStyle::AnthropicMessages, "anthropic-messages"),
        ] {
            let edit = connect(Tool::OpenClaw, None, &target(style));
            assert_eq!(
                get(
                    Tool::OpenClaw,
                    &edit.bytes,
                    &["models", "providers", "redline-kimi-main", "api"]
                ),
                s(api)
            );
        }
    }

    #[test]
    fn an_allowlist_gets_the_model_and_a_string_model_is_replaced() {
        let original = "{\n  \"agents\": {\"defaults\": {\"model\": \"kimi/k2p5\", \"models\": {\"kimi/k2p5\": {\"alias\": \"k\"}}}}\n}\n";
        let t = best(Tool::OpenClaw);
        let edit = connect(Tool::OpenClaw, Some(original), &t);
        let b = &edit.bytes;
        assert_eq!(
            get(Tool::OpenClaw, b, &["agents", "defaults", "model"]),
            s("redline-kimi-main/kimi-for-coding")
        );
        assert_eq!(
            get(
                Tool::OpenClaw,
                b,
                &[
                    "agents",
                    "defaults",
                    "models",
                    "redline-kimi-main/kimi-for-coding"
                ]
            ),
            Some(serde_json::json!({}))
        );
        assert_undo_keeps_user_edit(Tool::OpenClaw, original, &t);
    }

    #[test]
    fn crlf_and_a_byte_order_mark_stay() {
        let original = format!("\u{feff}{}", CONFIG.replace('\n', "\r\n"));
        let edit = connect(Tool::OpenClaw, Some(&original), &best(Tool::OpenClaw));
        let out = text(&edit.bytes);
        assert!(out.starts_with('\u{feff}'));
        assert_eq!(out.matches('\n').count(), out.matches("\r\n").count());
    }

    #[test]
    fn a_broken_file_is_refused() {
        let err = plan(
            Tool::OpenClaw,
            Some(b"{\n  agents: {\n    defaults: { model: 'x' \n  },\n"),
            &best(Tool::OpenClaw),
        )
        .unwrap_err();
        assert!(
            err.to_string()
                .starts_with("~/.openclaw/openclaw.json, line "),
            "{err}"
        );
    }

    #[test]
    fn user_changes_to_the_primary_model_survive_disconnect() {
        let t = best(Tool::OpenClaw);
        let edit = connect(Tool::OpenClaw, Some(CONFIG), &t);
        let current =
            text(&edit.bytes).replace("\"redline-kimi-main/kimi-for-coding\"", "'kimi/k2p5'");
        let back = undo(
            Tool::OpenClaw,
            Some(CONFIG.as_bytes()),
            &edit.bytes,
            Some(current.as_bytes()),
        )
        .unwrap()
        .unwrap();
        assert_eq!(
            text(&back),
            CONFIG.replace("'anthropic/claude-opus-4-6'", "'kimi/k2p5'")
        );
    }
}

mod kimi {
    use super::*;

    /// As the Kimi Code CLI writes it (tomlkit), after a login.
    const CONFIG: &str = r#"default_model = "kimi-code/kimi-for-coding"
default_thinking = true

[models."kimi-code/kimi-for-coding"]
provider = "managed:kimi-code"
model = "kimi-for-coding"
max_context_size = 262144

[providers."managed:kimi-code"]
type = "kimi"
base_url = "https://api.kimi.com/coding/v1"
api_key = "sk-kimi-realkey0123456789abcdefghij"

[loop_control]
max_steps_per_turn = 100
"#;

    #[test]
    fn adds_provider_and_model_and_makes_it_the_default() {
        let t = best(Tool::Kimi);
        assert_eq!(
            inspect(Tool::Kimi, Some(CONFIG.as_bytes())).unwrap(),
            ToolState::Direct {
                base_url: Some("https://api.kimi.com/coding/v1".into()),
                key: Some(Secret::parse(REAL_KEY).unwrap())
            }
        );
        let edit = connect(Tool::Kimi, Some(CONFIG), &t);
        let b = &edit.bytes;
        assert_eq!(
            get(Tool::Kimi, b, &["default_model"]),
            s("redline-kimi-main")
        );
        assert_eq!(
            get(Tool::Kimi, b, &["providers", "redline-kimi-main"]),
            Some(serde_json::json!({
                "type": "kimi", "base_url": "http://127.0.0.1:4290/kimi-main/coding/v1",
                "api_key": TOKEN, "custom_headers": {"X-Redline-Tool": "kimi"}
            }))
        );
        assert_eq!(
            get(Tool::Kimi, b, &["models", "redline-kimi-main"]),
            Some(serde_json::json!({
                "provider": "redline-kimi-main", "model": "kimi-for-coding", "max_context_size": 262144
            }))
        );
        assert!(text(b).contains("[loop_control]\nmax_steps_per_turn = 100\n"));
        assert!(matches!(
            inspect(Tool::Kimi, Some(b)).unwrap(),
            ToolState::Redline { .. }
        ));
        assert_undo_keeps_user_edit(Tool::Kimi, CONFIG, &t);
    }

    #[test]
    fn a_fresh_install_gets_a_complete_llm() {
        let edit = connect(Tool::Kimi, None, &best(Tool::Kimi));
        let parsed: ::toml::Table = ::toml::from_str(text(&edit.bytes)).unwrap();
        let default = parsed["default_model"].as_str().unwrap();
        let provider = parsed["models"][default]["provider"].as_str().unwrap();
        assert!(
            parsed["providers"].get(provider).is_some(),
            "what `LLM not set` lacked"
        );
        // The CLI's own first-run file: empty tables.
        let fresh = "default_model = \"\"\n\n[models]\n\n[providers]\n";
        assert_eq!(
            inspect(Tool::Kimi, Some(fresh.as_bytes())).unwrap(),
            ToolState::NotConfigured
        );
        assert_undo_keeps_user_edit(Tool::Kimi, fresh, &best(Tool::Kimi));
    }

    #[test]
    fn provider_types_follow_the_style_and_provider() {
        let mut t = target(ApiStyle::AnthropicMessages);
        let edit = connect(Tool::Kimi, None, &t);
        assert_eq!(
            get(
                Tool::Kimi,
                &edit.bytes,
                &["providers", "redline-kimi-main", "type"]
            ),
            s("anthropic")
        );
        t.style = ApiStyle::OpenAiChat;
        t.provider = ProviderId::Deepseek;
        let edit = connect(Tool::Kimi, None, &t);
        assert_eq!(
            get(
                Tool::Kimi,
                &edit.bytes,
                &["providers", "redline-kimi-main", "type"]
            ),
            s("openai_legacy")
        );
    }
}

mod opencode {
    use super::*;

    const CONFIG: &str = "{\n  \"$schema\": \"https://opencode.ai/config.json\",\n  // my theme\n  \"theme\": \"opencode\",\n  \"provider\": {\n    \"ollama\": {\n      \"npm\": \"@ai-sdk/openai-compatible\",\n      \"options\": { \"baseURL\": \"http://localhost:11434/v1\" },\n      \"models\": { \"qwen\": {} },\n    },\n  },\n  \"model\": \"ollama/qwen\",\n}\n";

    #[test]
    fn adds_a_provider_and_selects_its_model() {
        let mut t = best(Tool::Opencode);
        t.small_model = Some("kimi-small".into());
        let edit = connect(Tool::Opencode, Some(CONFIG), &t);
        let b = &edit.bytes;
        assert_eq!(
            get(Tool::Opencode, b, &["model"]),
            s("redline-kimi-main/kimi-for-coding")
        );
        assert_eq!(
            get(Tool::Opencode, b, &["small_model"]),
            s("redline-kimi-main/kimi-small")
        );
        assert_eq!(
            get(Tool::Opencode, b, &["provider", "redline-kimi-main"]),
            Some(serde_json::json!({
                "npm": "@ai-sdk/openai-compatible", "name": "Redline (kimi-main)",
                "options": {"baseURL": "http://127.0.0.1:4290/kimi-main/coding/v1", "apiKey": TOKEN,
                            "headers": {"X-Redline-Tool": "opencode"}},
                "models": {"kimi-for-coding": {"name": "kimi-for-coding"}, "kimi-small": {"name": "kimi-small"}}
            }))
        );
        assert!(text(b).contains("  // my theme\n  \"theme\": \"opencode\",\n"));
        assert_eq!(
            inspect(Tool::Opencode, Some(CONFIG.as_bytes())).unwrap(),
            ToolState::Redline {
                address: "localhost:11434".into(),
                account: "v1".into(),
                token: None
            },
            "a local endpoint reads as Redline-like; the caller compares the address"
        );
        assert!(
            matches!(inspect(Tool::Opencode, Some(b)).unwrap(), ToolState::Redline { ref account, .. } if account == "kimi-main")
        );
        assert_undo_keeps_user_edit(Tool::Opencode, CONFIG, &t);
    }

    #[test]
    fn anthropic_style_uses_the_anthropic_package_with_v1() {
        let edit = connect(Tool::Opencode, None, &target(ApiStyle::AnthropicMessages));
        let p = get(
            Tool::Opencode,
            &edit.bytes,
            &["provider", "redline-kimi-main"],
        )
        .unwrap();
        assert_eq!(p["npm"], "@ai-sdk/anthropic");
        assert_eq!(
            p["options"]["baseURL"],
            "http://127.0.0.1:4290/kimi-main/coding/v1"
        );
    }
}

mod aider {
    use super::*;

    const CONFIG: &str = "# aider settings\n\n## the model\nmodel: gpt-4o  # mine\ndark-mode: true\nread:\n  - CONVENTIONS.md\n  - docs/notes.md\nopenai-api-key: sk-kimi-realkey0123456789abcdefghij\n";

    #[test]
    fn sets_openai_compatible_settings_line_by_line() {
        let edit = connect(Tool::Aider, Some(CONFIG), &best(Tool::Aider));
        assert_eq!(
            text(&edit.bytes),
            format!(
                "# aider settings\n\n## the model\nmodel: \"openai/kimi-for-coding\"\ndark-mode: true\nread:\n  - CONVENTIONS.md\n  - docs/notes.md\nopenai-api-key: \"{TOKEN}\"\nopenai-api-base: \"http://127.0.0.1:4290/kimi-main/coding/v1\"\n"
            )
        );
        assert_eq!(
            inspect(Tool::Aider, Some(CONFIG.as_bytes())).unwrap(),
            ToolState::Direct {
                base_url: None,
                key: Some(Secret::parse(REAL_KEY).unwrap())
            }
        );
        assert!(matches!(
            inspect(Tool::Aider, Some(&edit.bytes)).unwrap(),
            ToolState::Redline { .. }
        ));
        assert_undo_keeps_user_edit(Tool::Aider, CONFIG, &best(Tool::Aider));
    }

    #[test]
    fn a_block_value_is_replaced_whole() {
        let original = "model:\n  gpt-4o\nweak-model: x\n";
        let mut t = best(Tool::Aider);
        t.small_model = Some("kimi-small".into());
        let edit = connect(Tool::Aider, Some(original), &t);
        assert!(
            text(&edit.bytes).starts_with(
                "model: \"openai/kimi-for-coding\"\nweak-model: \"openai/kimi-small\"\n"
            )
        );
    }

    #[test]
    fn crlf_missing_and_broken_files() {
        let original = CONFIG.replace('\n', "\r\n");
        let edit = connect(Tool::Aider, Some(&original), &best(Tool::Aider));
        let out = text(&edit.bytes);
        assert_eq!(out.matches('\n').count(), out.matches("\r\n").count());
        assert_undo_keeps_user_edit(Tool::Aider, &original, &best(Tool::Aider));
        connect(Tool::Aider, None, &best(Tool::Aider));
        connect(Tool::Aider, Some("model: a"), &best(Tool::Aider));
        let err = plan(
            Tool::Aider,
            Some(b"model: a\n  bad: [\n"),
            &best(Tool::Aider),
        )
        .unwrap_err();
        assert!(matches!(err, EditError::Parse { line: 2, .. }), "{err}");
        let err = plan(Tool::Aider, Some(b"- a\n- b\n"), &best(Tool::Aider)).unwrap_err();
        assert!(err.to_string().contains("not a mapping"), "{err}");
        assert!(plan(Tool::Aider, None, &target(ApiStyle::AnthropicMessages)).is_err());
    }

    #[test]
    fn a_restored_setting_that_ended_the_original_does_not_run_into_the_next_line() {
        // Found by connect/props.rs: the original's unterminated last setting, put back in
        // front of Redline's own lines, ran into the next one, which then escaped removal and
        // kept the tool token in the file.
        let original = "openai-api-base:\r\n  - anthropic-messages";
        let edit = connect(Tool::Aider, Some(original), &best(Tool::Aider));
        let current = [&edit.bytes[..], b"\r\n"].concat();
        let back = undo(
            Tool::Aider,
            Some(original.as_bytes()),
            &edit.bytes,
            Some(&current),
        )
        .unwrap()
        .unwrap();
        // The original's last line gets its line break, then comes the user's new line.
        assert_eq!(text(&back), format!("{original}\r\n\r\n"));
    }
}

#[test]
fn every_tool_round_trips_odd_files() {
    for tool in Tool::ALL {
        let t = best(tool);
        let odd: &[&str] = match tool.format() {
            Format::Json => &[
                "",
                "\n",
                "{}",
                "{\r\n  \"a\": 1\r\n}\r\n",
                "\u{feff}{\"a\":[1]}",
            ],
            Format::Json5 => &[
                "",
                "\n",
                "{}",
                "{\r\n  // c\r\n  \"a\": 1,\r\n}\r\n",
                "/* only */ {\"a\": [1,],}",
            ],
            Format::Toml => &["", "\n", "# only a comment\n", "a = 1\r\n[t]\r\nb = 2\r\n"],
            Format::Yaml => &["", "\n", "# only a comment\n", "a: 1\r\n"],
        };
        for original in odd {
            connect(tool, Some(original), &t);
        }
        connect(tool, None, &t);
    }
}

#[test]
fn undo_when_the_file_is_gone_or_was_never_there() {
    let t = best(Tool::Codex);
    let edit = plan(Tool::Codex, None, &t).unwrap();
    assert_eq!(undo(Tool::Codex, None, &edit.bytes, None).unwrap(), None);
    assert_eq!(
        undo(Tool::Codex, None, &edit.bytes, Some(&edit.bytes)).unwrap(),
        None
    );
    // Edited since, but only inside Redline's own entry: nothing of the user's is left.
    let current = text(&edit.bytes).replace(
        "wire_api = \"responses\"",
        "wire_api = \"responses\"\nstream_max_retries = 9",
    );
    assert_eq!(
        undo(Tool::Codex, None, &edit.bytes, Some(current.as_bytes())).unwrap(),
        None
    );
    let original = b"model = \"o3\"\n".as_slice();
    let edit = plan(Tool::Codex, Some(original), &t).unwrap();
    assert_eq!(
        undo(Tool::Codex, Some(original), &edit.bytes, None).unwrap(),
        None
    );
}

#[test]
fn a_broken_current_file_is_refused_by_undo() {
    let t = best(Tool::OpenClaw);
    let edit = plan(Tool::OpenClaw, None, &t).unwrap();
    let err = undo(Tool::OpenClaw, None, &edit.bytes, Some(b"{ oops")).unwrap_err();
    assert!(matches!(err, EditError::Parse { .. }), "{err}");
}

#[test]
fn files_that_are_not_utf8_are_refused() {
    for tool in Tool::ALL {
        let err = plan(tool, Some(b"{\"a\": \"\xff\"}"), &best(tool)).unwrap_err();
        assert!(matches!(err, EditError::Encoding { .. }), "{tool}: {err}");
    }
}

#[test]
fn styles_are_picked_by_what_the_tool_speaks_best() {
    use ApiStyle::*;
    let kimi_code = [OpenAiChat, AnthropicMessages];
    assert_eq!(
        Tool::ClaudeCode.pick_style(&kimi_code),
        Some(AnthropicMessages)
    );
    assert_eq!(
        Tool::OpenClaw.pick_style(&kimi_code),
        Some(AnthropicMessages)
    );
    assert_eq!(Tool::Kimi.pick_style(&kimi_code), Some(OpenAiChat));
    assert_eq!(Tool::Aider.pick_style(&kimi_code), Some(OpenAiChat));
    assert_eq!(Tool::Codex.pick_style(&kimi_code), None);
    assert_eq!(
        Tool::Codex.pick_style(&[OpenAiChat, OpenAiResponses]),
        Some(OpenAiResponses)
    );
    assert_eq!(Tool::Aider.pick_style(&[AnthropicMessages]), None);
}

#[test]
fn names_paths_and_routes() {
    for tool in Tool::ALL {
        assert_eq!(Tool::from_name(tool.name()), Some(tool));
    }
    assert_eq!(Tool::from_name("cursor"), None);
    assert_eq!(
        Tool::OpenClaw.config_path(Path::new("/home/u")),
        PathBuf::from("/home/u/.openclaw/openclaw.json")
    );
    assert_eq!(
        route_base_url(
            "127.0.0.1:14290".parse().unwrap(),
            "kimi-main",
            "/coding/v1"
        ),
        "http://127.0.0.1:14290/kimi-main/coding/v1"
    );
    assert!(!format!("{:?}", best(Tool::Codex)).contains(TOKEN));
}

#[test]
fn a_provider_key_elsewhere_reads_as_direct_and_ipv6_loopback_as_redline() {
    assert_eq!(
        state_for(Some("https://api.kimi.com/coding/v1".into()), None),
        ToolState::Direct {
            base_url: Some("https://api.kimi.com/coding/v1".into()),
            key: None
        }
    );
    assert_eq!(
        state_for(Some("http://[::1]:4290/acct/v1".into()), Some(TOKEN.into())),
        ToolState::Redline {
            address: "[::1]:4290".into(),
            account: "acct".into(),
            token: Some(Secret::parse(TOKEN).unwrap())
        }
    );
    assert_eq!(state_for(None, None), ToolState::NotConfigured);
}

#[test]
fn every_tool_refuses_a_broken_file_and_says_where() {
    for tool in Tool::ALL {
        let broken: &[u8] = match tool.format() {
            Format::Json | Format::Json5 => b"{\n  \"a\": 1,\n  \"b\" 2\n}\n",
            Format::Toml => b"a = 1\nb = \n",
            Format::Yaml => b"a: 1\nb: [1, 2\n",
        };
        let err = plan(tool, Some(broken), &best(tool)).unwrap_err();
        let EditError::Parse { file, line, .. } = &err else {
            panic!("{tool}: {err}")
        };
        assert_eq!(*file, tool.display_path());
        assert!(*line >= 2, "{tool}: {err}");
        assert!(inspect(tool, Some(broken)).is_err());
    }
}

#[test]
fn a_reconnect_to_another_account_undoes_to_the_first_original() {
    for tool in Tool::ALL {
        let original = match tool.format() {
            Format::Json => "{\n  \"mine\": true,\n  \"x\": 1\n}\n",
            Format::Json5 => "{\n  // mine\n  \"x\": 1\n}\n",
            Format::Toml => "# mine\nx = 1\n",
            Format::Yaml => "# mine\nx: 1\n",
        };
        let first = plan(tool, Some(original.as_bytes()), &best(tool)).unwrap();
        let mut other = best(tool);
        other.account = "work".into();
        other.base_url = other.base_url.replace("kimi-main", "work");
        let second = plan(tool, Some(&first.bytes), &other).unwrap();
        assert_eq!(
            undo(
                tool,
                Some(original.as_bytes()),
                &second.bytes,
                Some(&second.bytes)
            )
            .unwrap()
            .as_deref(),
            Some(original.as_bytes())
        );
        let current = user_edit(tool, text(&second.bytes));
        let back = undo(
            tool,
            Some(original.as_bytes()),
            &second.bytes,
            Some(current.as_bytes()),
        )
        .unwrap()
        .unwrap();
        assert_eq!(text(&back), user_edit(tool, original), "{tool}");
    }
}
