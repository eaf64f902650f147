//! Which tool sent a proxied request: the name every count, refusal and token is recorded under.
//!
//! First by what the request says ([`by_headers`], a pure function): Redline's own
//! `X-Redline-Tool` header, a tool's own header or User-Agent, the app name OpenRouter clients
//! send. When that names only an SDK or an HTTP library (llm and aider send exactly what
//! `openai-python` sends), by the process at the other end of the loopback connection
//! ([`Peer`], through [`socket_owner`](super::socket_owner)), looked up once per connection
//! and never for a request its headers already name. A request without a usable User-Agent
//! is [`UNKNOWN_TOOL`], and so is anything else neither can name: never a guess at another
//! tool.
//!
//! Names reach terminals, the dashboard and metric labels, so whatever comes from a header is
//! printable ASCII of at most [`MAX_NAME`] characters.
//!
//! What each tool sends, and where that was read (snapshots of the public repositories, and
//! requests captured on loopback from the SDKs installed from PyPI and npm):
//!
//! | tool | what it sends | source |
//! |---|---|---|
//! | Claude Code | `User-Agent: claude-cli/2.1.104 (external, cli)`, `x-app: cli`, `x-stainless-lang: js` | requests recorded by third-party proxies (the CLI's source is not public) |
//! | Codex | `User-Agent: codex_cli_rs/0.38.0 (Ubuntu 24.04; x86_64) …`, `originator: codex_cli_rs` (`codex_exec`, `codex_vscode`, …) | openai/codex `codex-rs/core/src/default_client.rs` |
//! | Kimi Code CLI, kimi-cli | `User-Agent: KimiCLI/<version>` on its Kimi provider; `X-Msh-Platform: kimi_cli` when logged in; the openai-python SDK underneath (`x-stainless-lang: python`); other provider types send openai-python's own User-Agent | MoonshotAI/kimi-cli `src/kimi_cli/constant.py`, `llm.py` `_kimi_default_headers`, `auth/oauth.py` `_common_headers` |
//! | OpenClaw | openai-node / anthropic-node User-Agents; `HTTP-Referer: https://openclaw.ai`, `X-Title: OpenClaw` to OpenRouter; `X-OpenClaw-Agent: <agent>` when a provider sets `injectAgentHeader` | openclaw/openclaw `src/agents/pi-embedded-runner/extra-params.ts`, `extra-params.agent-header.test.ts` |
//! | aider | openai-python's User-Agent (through litellm); `HTTP-Referer: https://aider.chat`, `X-Title: Aider` to OpenRouter (litellm's `OR_SITE_URL`/`OR_APP_NAME`) | Aider-AI/aider `aider/llm.py` |
//! | llm | exactly openai-python's headers (`OpenAI/Python 3.57.0`); `llm/<version>` only when fetching fragments | simonw/llm `llm/default_plugins/openai_models.py`, `llm/cli.py`; captured from llm 0.36 |
//! | opencode | `User-Agent: opencode/<version>` to other providers; `x-opencode-*` headers to its own | sst/opencode `packages/opencode/src/session/llm.ts` |
//! | Gemini CLI | `User-Agent: GeminiCLI/<version>/<model> (linux; x64; terminal)`, `GeminiCLI-<client>/…`, or `CloudCodeVSCode/… proxy_client=geminicli` | google-gemini/gemini-cli `packages/core/src/core/contentGenerator.ts` |
//! | Cline | `User-Agent: Cline/<version>` on every provider; `HTTP-Referer: https://cline.bot`, `X-Title: Cline`; `originator: cline` on OpenAI's Codex endpoint | cline/cline `apps/vscode/src/services/EnvUtils.ts`, `sdk/packages/llms/src/providers/request-headers.ts` |
//! | Roo Code | `User-Agent: RooCode/<version>` (`roo-code/<version> (…)` to OpenAI), `HTTP-Referer: https://github.com/RooVetGit/Roo-Cline`, `X-Title: Roo Code`, openai-node underneath | RooCodeInc/Roo-Code `src/api/providers/constants.ts`, `openai-native.ts` |
//! | openai-python, anthropic-python | `OpenAI/Python 3.57.0` (`AsyncOpenAI/Python …`), `Anthropic/Python 2.16.0`, `x-stainless-lang: python` | captured from the PyPI packages |
//! | openai-node, anthropic-node | `OpenAI/JS 6.49.0`, `Anthropic/JS 1.16.0`, `x-stainless-lang: js` | captured from the npm packages |
//!
//! Coding-plan endpoints let in only known coding agents, so other programs copy their
//! User-Agents (`KimiCLI/…`, `claude-cli/…`). A User-Agent whose SDK runtime
//! (`x-stainless-lang`) contradicts the tool it names is not believed.

use super::agents::Tool;
use super::socket_owner;
use axum::extract::connect_info::Connected;
use axum::serve::IncomingStream;
use http::{HeaderMap, HeaderName, header};
use std::borrow::Cow;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::OnceCell;

/// Names the tool explicitly; a user (or a tool's custom-header setting) may set it. Redline
/// reads it and never forwards it to the provider.
pub const X_REDLINE_TOOL: HeaderName = HeaderName::from_static("x-redline-tool");

/// A request Redline cannot name.
pub const UNKNOWN_TOOL: &str = "unknown tool";

/// The longest name taken from a header, in characters.
pub const MAX_NAME: usize = 40;

/// What a request's headers say about the tool that sent it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Named {
    /// The tool itself: named explicitly, by its own header or User-Agent, or by a product
    /// token Redline does not know (`MyScript/1.0` is "MyScript": that is what it sent).
    Tool(Cow<'static, str>),
    /// Only an SDK or an HTTP library: the process may say more. The name to use when it does
    /// not.
    Generic(Cow<'static, str>),
    /// Nothing usable (no User-Agent, or garbage): [`UNKNOWN_TOOL`]. The process is not asked:
    /// a client that says nothing of itself is no tool Redline knows.
    Unknown,
}

/// An SDK runtime, as the Stainless-generated SDKs announce it in `x-stainless-lang`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Lang {
    Python,
    Js,
}

/// What a tool's User-Agent starts with (its product token, lowercased), the tool, and the
/// runtime its SDK reports when it reports one.
const TOOL_AGENTS: &[(&str, &str, Option<Lang>)] = &[
    ("claude-cli", "Claude Code", Some(Lang::Js)),
    ("claude-code", "Claude Code", Some(Lang::Js)),
    ("kimicli", "Kimi CLI", Some(Lang::Python)),
    ("kimi-cli", "Kimi CLI", Some(Lang::Python)),
    ("openclaw", "OpenClaw", Some(Lang::Js)),
    ("opencode", "opencode", None),
    ("cline", "Cline", Some(Lang::Js)),
    ("roocode", "Roo Code", Some(Lang::Js)),
    ("roo-code", "Roo Code", Some(Lang::Js)),
    ("aider", "aider", Some(Lang::Python)),
    ("llm", "llm", Some(Lang::Python)),
];

/// App names sent in `X-Title` (lowercased) and the tool each is.
const APP_TITLES: &[(&str, &str)] = &[
    ("aider", "aider"),
    ("openclaw", "OpenClaw"),
    ("cline", "Cline"),
    ("roo code", "Roo Code"),
    ("opencode", "opencode"),
];

/// Sites sent in `HTTP-Referer` (lowercased, without a trailing slash) and the tool each is.
const APP_SITES: &[(&str, &str)] = &[
    ("https://aider.chat", "aider"),
    ("https://openclaw.ai", "OpenClaw"),
    ("https://cline.bot", "Cline"),
    ("https://github.com/roovetgit/roo-cline", "Roo Code"),
    ("https://opencode.ai", "opencode"),
];

/// Product tokens (lowercased) of HTTP libraries and runtimes: they name no tool.
const LIBRARIES: &[&str] = &[
    "python-httpx",
    "python-requests",
    "python-urllib",
    "aiohttp",
    "httpx",
    "node",
    "node-fetch",
    "undici",
    "axios",
    "got",
    "bun",
    "deno",
    "go-http-client",
    "reqwest",
    "okhttp",
    "java",
    "apache-httpclient",
    "dart",
    "ruby",
    "faraday",
    "guzzlehttp",
    "mozilla",
];

/// Names the tool from the request's headers alone.
pub fn by_headers(headers: &HeaderMap) -> Named {
    let text = |name: &HeaderName| headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(name) = text(&X_REDLINE_TOOL).and_then(sanitise) {
        return Named::Tool(Cow::Owned(name));
    }
    if let Some(tool) = tool_header(headers) {
        return Named::Tool(Cow::Borrowed(tool));
    }
    let lang = match text(&HeaderName::from_static("x-stainless-lang")) {
        Some(l) if l.eq_ignore_ascii_case("python") => Some(Lang::Python),
        Some(l) if l.eq_ignore_ascii_case("js") => Some(Lang::Js),
        _ => None,
    };
    let agent = text(&header::USER_AGENT).map(str::trim).unwrap_or("");
    let lower = agent.to_ascii_lowercase();
    let token = product_token(agent);
    let token_lower = token.map(str::to_ascii_lowercase);
    let claimed = tool_agent(&lower, token_lower.as_deref());
    if let Some((tool, runtime)) = claimed {
        // Believed unless its SDK runtime says it is another program wearing this User-Agent.
        if runtime
            .zip(lang)
            .is_none_or(|(expected, sent)| expected == sent)
        {
            return Named::Tool(Cow::Borrowed(tool));
        }
    }
    if let Some(app) = app_header(headers) {
        return app;
    }
    if let Some(sdk) = sdk_agent(&lower) {
        return Named::Generic(Cow::Borrowed(sdk));
    }
    if claimed.is_none()
        && let (Some(token), Some(lower)) = (token, token_lower.as_deref())
        && !LIBRARIES.contains(&lower)
    {
        return Named::Tool(Cow::Owned(token.to_owned()));
    }
    let fallback = match (lang, headers.contains_key("anthropic-version")) {
        (Some(Lang::Python), false) => "openai-python",
        (Some(Lang::Python), true) => "anthropic-python",
        (Some(Lang::Js), false) => "openai-node",
        (Some(Lang::Js), true) => "anthropic-node",
        (None, _) => match token {
            Some(library) => return Named::Generic(Cow::Owned(library.to_owned())),
            None => return Named::Unknown,
        },
    };
    Named::Generic(Cow::Borrowed(fallback))
}

/// Headers only one tool sends.
fn tool_header(headers: &HeaderMap) -> Option<&'static str> {
    let text = |name: &'static str| headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(originator) = text("originator").map(str::to_ascii_lowercase) {
        if originator.starts_with("codex") {
            return Some(Tool::Codex.name());
        }
        if originator == "cline" {
            return Some(Tool::Cline.name());
        }
    }
    if headers.contains_key("x-openclaw-agent") {
        return Some(Tool::OpenClaw.name());
    }
    if text("x-msh-platform").is_some_and(|p| p.eq_ignore_ascii_case("kimi_cli")) {
        return Some(Tool::KimiCli.name());
    }
    None
}

/// A known tool's User-Agent: the tool and the SDK runtime it has.
fn tool_agent(lower: &str, token: Option<&str>) -> Option<(&'static str, Option<Lang>)> {
    if let Some(token) = token {
        if token.starts_with("codex") {
            return Some((Tool::Codex.name(), None));
        }
        if token.starts_with("geminicli") {
            return Some((Tool::GeminiCli.name(), None));
        }
        if let Some(&(_, name, lang)) = TOOL_AGENTS.iter().find(|(t, _, _)| *t == token) {
            return Some((name, lang));
        }
    }
    // Gemini CLI inside VS Code: `CloudCodeVSCode/… proxy_client=geminicli)`.
    lower
        .contains("proxy_client=geminicli")
        .then_some((Tool::GeminiCli.name(), None))
}

/// The SDK a User-Agent names, as `openai-python`.
fn sdk_agent(lower: &str) -> Option<&'static str> {
    let (product, rest) = lower.split_once('/')?;
    let runtime = rest.split(' ').next().unwrap_or("");
    match (product.trim_start_matches("async"), runtime) {
        ("openai", "python") => Some("openai-python"),
        ("openai", "js") => Some("openai-node"),
        ("anthropic", "python") => Some("anthropic-python"),
        ("anthropic", "js") => Some("anthropic-node"),
        _ => None,
    }
}

/// The app an OpenRouter client names in `X-Title` or `HTTP-Referer`: a known tool, or the
/// title as sent.
fn app_header(headers: &HeaderMap) -> Option<Named> {
    let text = |name: &'static str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    };
    if let Some(title) = text("x-title").filter(|t| !t.is_empty()) {
        let lower = title.to_ascii_lowercase();
        if let Some(&(_, tool)) = APP_TITLES.iter().find(|(t, _)| *t == lower) {
            return Some(Named::Tool(Cow::Borrowed(tool)));
        }
        if let Some(title) = sanitise(title) {
            return Some(Named::Tool(Cow::Owned(title)));
        }
    }
    let referer = text("http-referer")?.to_ascii_lowercase();
    let referer = referer.trim_end_matches('/');
    APP_SITES
        .iter()
        .find(|(site, _)| *site == referer)
        .map(|&(_, tool)| Named::Tool(Cow::Borrowed(tool)))
}

/// The first word of a User-Agent (`MyScript` of `MyScript/1.0 (x)`) when it looks like a
/// product name: letters, digits and `._+-`, starting with a letter or digit, holding a
/// letter; cut to [`MAX_NAME`].
fn product_token(agent: &str) -> Option<&str> {
    let end = agent.find(['/', ' ', '(', ';']).unwrap_or(agent.len());
    let token = &agent[..end];
    let valid = token.starts_with(|c: char| c.is_ascii_alphanumeric())
        && token.chars().any(|c| c.is_ascii_alphabetic())
        && token
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._+-".contains(c));
    valid.then(|| &token[..token.len().min(MAX_NAME)])
}

/// A name from a header made safe to show: printable ASCII only, runs of spaces as one, at
/// most [`MAX_NAME`] characters; `None` when nothing is left.
pub fn sanitise(text: &str) -> Option<String> {
    let mut name = String::with_capacity(text.len().min(MAX_NAME));
    for c in text.chars().filter(|c| c.is_ascii_graphic() || *c == ' ') {
        if c == ' ' && (name.is_empty() || name.ends_with(' ')) {
            continue;
        }
        if name.len() == MAX_NAME {
            break;
        }
        name.push(c);
    }
    let name = name.trim_end();
    (!name.is_empty()).then(|| name.to_owned())
}

/// Names the tool that sent a request: by its headers, else by the process at the other end
/// of `peer` (looked up once per connection), else by what the headers said.
pub async fn name(headers: &HeaderMap, peer: Option<&Peer>) -> String {
    match by_headers(headers) {
        Named::Tool(name) => name.into_owned(),
        Named::Unknown => UNKNOWN_TOOL.to_owned(),
        Named::Generic(fallback) => match peer {
            Some(peer) => match peer.tool().await {
                Some(tool) => tool.name().to_owned(),
                None => fallback.into_owned(),
            },
            None => fallback.into_owned(),
        },
    }
}

/// How many different tool names one daemon run keeps apart. Every name is a row in the
/// traffic figures and a label in /metrics for as long as the daemon runs, and a local process
/// can invent a User-Agent per request: names beyond these are counted as [`OTHER_TOOLS`].
pub const MAX_TOOL_NAMES: usize = 64;

/// Where requests of tools beyond [`MAX_TOOL_NAMES`] are counted.
pub const OTHER_TOOLS: &str = "other tools";

/// The tool names this daemon run has recorded, at most [`MAX_TOOL_NAMES`].
#[derive(Debug, Default)]
pub struct ToolNames {
    seen: std::sync::Mutex<std::collections::HashSet<String>>,
}

impl ToolNames {
    /// The name to record a request under: `name` itself while there is room for it.
    pub fn admit(&self, name: String) -> String {
        let mut seen = self
            .seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        admit(&mut seen, name, MAX_TOOL_NAMES)
    }
}

/// `name` if it is known or one more fits under `max`, else [`OTHER_TOOLS`].
fn admit(seen: &mut std::collections::HashSet<String>, name: String, max: usize) -> String {
    if seen.contains(&name) {
        return name;
    }
    if seen.len() < max {
        seen.insert(name.clone());
        return name;
    }
    OTHER_TOOLS.to_owned()
}

/// The client's end of one connection to the local port, as the server saw it when it
/// accepted it (axum's `ConnectInfo`). Every request on the connection holds a clone; the
/// process behind it is looked up at most once, on the first request that needs it.
#[derive(Clone, Debug)]
pub struct Peer {
    /// The client's address.
    pub remote: SocketAddr,
    /// Redline's address on this connection.
    pub local: Option<SocketAddr>,
    owner: Arc<OnceCell<Option<Tool>>>,
}

impl Peer {
    pub fn new(remote: SocketAddr, local: Option<SocketAddr>) -> Peer {
        Peer {
            remote,
            local,
            owner: Arc::new(OnceCell::new()),
        }
    }

    /// The AI tool whose process holds the client's end of this connection, if it is one
    /// (on Linux, for a loopback client of the same user; else `None`).
    pub async fn tool(&self) -> Option<Tool> {
        *self
            .owner
            .get_or_init(|| socket_owner::tool_at(self.remote, self.local))
            .await
    }
}

impl Connected<IncomingStream<'_, TcpListener>> for Peer {
    fn connect_info(stream: IncomingStream<'_, TcpListener>) -> Peer {
        Peer::new(*stream.remote_addr(), stream.io().local_addr().ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(
                HeaderName::try_from(*name).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        map
    }

    fn tool(name: &str) -> Named {
        Named::Tool(Cow::Owned(name.to_owned()))
    }

    fn generic(name: &str) -> Named {
        Named::Generic(Cow::Owned(name.to_owned()))
    }

    /// The Stainless SDKs' own headers, as captured from openai 3.57.0 / anthropic 2.16.0
    /// (PyPI) and openai 6.49.0 / @anthropic-ai/sdk 1.16.0 (npm) on loopback.
    const PYTHON_SDK: [(&str, &str); 4] = [
        ("x-stainless-lang", "python"),
        ("x-stainless-package-version", "3.57.0"),
        ("x-stainless-runtime", "CPython"),
        ("x-stainless-async", "false"),
    ];
    const NODE_SDK: [(&str, &str); 3] = [
        ("x-stainless-lang", "js"),
        ("x-stainless-package-version", "6.49.0"),
        ("x-stainless-runtime", "node"),
    ];

    fn with(
        base: &[(&'static str, &'static str)],
        more: &[(&'static str, &'static str)],
    ) -> HeaderMap {
        headers(&[base, more].concat())
    }

    #[test]
    fn each_tool_is_named_by_what_it_sends() {
        let cases: Vec<(&str, HeaderMap, &str)> = vec![
            // Claude Code: recorded requests (x-app, x-stainless-lang js; source not public).
            (
                "Claude Code",
                with(
                    &NODE_SDK,
                    &[
                        ("user-agent", "claude-cli/2.1.104 (external, cli)"),
                        ("x-app", "cli"),
                        ("anthropic-version", "2023-06-01"),
                    ],
                ),
                "Claude Code",
            ),
            (
                "Claude Code through its SDK",
                headers(&[("user-agent", "claude-cli/2.1.104 (external, sdk-cli)")]),
                "Claude Code",
            ),
            // openai/codex codex-rs/core/src/default_client.rs: `{originator}/{version} (...)`.
            (
                "Codex",
                headers(&[
                    (
                        "user-agent",
                        "codex_cli_rs/0.38.0 (Ubuntu 24.04.2 LTS; x86_64) WindowsTerminal",
                    ),
                    ("originator", "codex_cli_rs"),
                ]),
                "Codex",
            ),
            (
                "codex exec",
                headers(&[(
                    "user-agent",
                    "codex_exec/0.125.0 (Mac OS 15.7.3; x86_64) ghostty/1.3.1 (codex_exec; 0.125.0)",
                )]),
                "Codex",
            ),
            (
                "Codex, originator only",
                headers(&[("originator", "codex_vscode"), ("user-agent", "reqwest")]),
                "Codex",
            ),
            // MoonshotAI/kimi-cli constant.py `KimiCLI/{version}`, llm.py _kimi_default_headers,
            // over the openai-python SDK (kosong's Kimi provider is an AsyncOpenAI).
            (
                "Kimi Code CLI",
                with(
                    &PYTHON_SDK,
                    &[
                        ("user-agent", "KimiCLI/1.12.0"),
                        ("x-stainless-async", "async:asyncio"),
                    ],
                ),
                "Kimi CLI",
            ),
            (
                "Kimi Code CLI inside an editor (wire/server.py adds the client)",
                headers(&[("user-agent", "KimiCLI/1.12.0 (zed 0.200.1)")]),
                "Kimi CLI",
            ),
            (
                "kimi-cli, older",
                headers(&[("user-agent", "kimi-cli/0.42")]),
                "Kimi CLI",
            ),
            // kimi_cli/auth/oauth.py _common_headers, sent when logged in.
            (
                "Kimi Code CLI logged in, any provider type",
                with(
                    &PYTHON_SDK,
                    &[
                        ("user-agent", "AsyncOpenAI/Python 3.57.0"),
                        ("x-msh-platform", "kimi_cli"),
                    ],
                ),
                "Kimi CLI",
            ),
            // openclaw/openclaw src/agents/pi-embedded-runner/extra-params.ts.
            (
                "OpenClaw to OpenRouter",
                with(
                    &NODE_SDK,
                    &[
                        ("user-agent", "OpenAI/JS 6.49.0"),
                        ("http-referer", "https://openclaw.ai"),
                        ("x-title", "OpenClaw"),
                    ],
                ),
                "OpenClaw",
            ),
            // extra-params.agent-header.test.ts: `injectAgentHeader` on a provider.
            (
                "OpenClaw with its agent header",
                with(
                    &NODE_SDK,
                    &[
                        ("user-agent", "OpenAI/JS 6.49.0"),
                        ("X-OpenClaw-Agent", "main"),
                    ],
                ),
                "OpenClaw",
            ),
            // Aider-AI/aider aider/llm.py: OR_SITE_URL / OR_APP_NAME, which litellm sends.
            (
                "aider to OpenRouter",
                with(
                    &PYTHON_SDK,
                    &[
                        ("user-agent", "OpenAI/Python 3.57.0"),
                        ("http-referer", "https://aider.chat"),
                        ("x-title", "Aider"),
                    ],
                ),
                "aider",
            ),
            (
                "aider, referer only",
                headers(&[
                    ("user-agent", "OpenAI/Python 1.109.1"),
                    ("http-referer", "https://aider.chat/"),
                ]),
                "aider",
            ),
            // sst/opencode packages/opencode/src/session/llm.ts.
            (
                "opencode",
                headers(&[
                    ("user-agent", "opencode/1.0.150"),
                    ("x-session-affinity", "ses_1"),
                ]),
                "opencode",
            ),
            // google-gemini/gemini-cli packages/core/src/core/contentGenerator.ts.
            (
                "Gemini CLI",
                headers(&[(
                    "user-agent",
                    "GeminiCLI/0.21.0/gemini-2.5-pro (linux; x64; terminal)",
                )]),
                "Gemini CLI",
            ),
            (
                "Gemini CLI with a client name",
                headers(&[(
                    "user-agent",
                    "GeminiCLI-acp/0.21.0/gemini-2.5-pro (linux; x64; terminal)",
                )]),
                "Gemini CLI",
            ),
            (
                "Gemini CLI in VS Code",
                headers(&[(
                    "user-agent",
                    "CloudCodeVSCode/0.21.0 (aidev_client; os_type=Linux; os_version=6.8; arch=x64; host_path=VSCode/1.100.0; proxy_client=geminicli)",
                )]),
                "Gemini CLI",
            ),
            // cline/cline apps/vscode/src/services/EnvUtils.ts buildExternalBasicHeaders.
            (
                "Cline",
                with(&NODE_SDK, &[("user-agent", "Cline/3.38.2")]),
                "Cline",
            ),
            // sdk/packages/llms/src/providers/request-headers.ts DEFAULT_CLINE_REQUEST_HEADERS.
            (
                "Cline, attribution headers",
                headers(&[
                    ("user-agent", "OpenAI/JS 6.49.0"),
                    ("http-referer", "https://cline.bot"),
                    ("x-title", "Cline"),
                ]),
                "Cline",
            ),
            (
                "Cline on OpenAI's Codex endpoint",
                headers(&[("originator", "cline"), ("user-agent", "Cline/1.0.0")]),
                "Cline",
            ),
            // RooCodeInc/Roo-Code src/api/providers/constants.ts DEFAULT_HEADERS.
            (
                "Roo Code",
                with(
                    &NODE_SDK,
                    &[
                        ("user-agent", "RooCode/3.30.0"),
                        ("http-referer", "https://github.com/RooVetGit/Roo-Cline"),
                        ("x-title", "Roo Code"),
                    ],
                ),
                "Roo Code",
            ),
            // src/api/providers/openai-native.ts.
            (
                "Roo Code to OpenAI",
                headers(&[(
                    "user-agent",
                    "roo-code/3.30.0 (linux 6.8.0; x64) node/20.19.0",
                )]),
                "Roo Code",
            ),
            ("curl", headers(&[("user-agent", "curl/8.5.0")]), "curl"),
        ];
        for (what, sent, name) in cases {
            assert_eq!(by_headers(&sent), tool(name), "{what}: {sent:?}");
        }
    }

    #[test]
    fn sdks_and_libraries_leave_the_name_to_the_process() {
        let cases = [
            // llm 0.36 and a plain script, captured: exactly the SDK's headers.
            (
                with(&PYTHON_SDK, &[("user-agent", "OpenAI/Python 3.57.0")]),
                "openai-python",
            ),
            (
                headers(&[("user-agent", "AsyncOpenAI/Python 3.57.0")]),
                "openai-python",
            ),
            (
                with(
                    &PYTHON_SDK,
                    &[
                        ("user-agent", "Anthropic/Python 2.16.0"),
                        ("anthropic-version", "2023-06-01"),
                    ],
                ),
                "anthropic-python",
            ),
            (
                headers(&[("user-agent", "AsyncAnthropic/Python 2.16.0")]),
                "anthropic-python",
            ),
            (
                with(&NODE_SDK, &[("user-agent", "OpenAI/JS 6.49.0")]),
                "openai-node",
            ),
            (
                headers(&[("user-agent", "Anthropic/JS 1.16.0")]),
                "anthropic-node",
            ),
            (
                headers(&[("user-agent", "python-httpx/0.28.1")]),
                "python-httpx",
            ),
            (
                headers(&[("user-agent", "Go-http-client/1.1")]),
                "Go-http-client",
            ),
            (headers(&[("user-agent", "node")]), "node"),
            // No User-Agent, but the SDK says what it is.
            (headers(&PYTHON_SDK), "openai-python"),
            (
                with(&NODE_SDK, &[("anthropic-version", "2023-06-01")]),
                "anthropic-node",
            ),
        ];
        for (sent, name) in cases {
            assert_eq!(by_headers(&sent), generic(name), "{sent:?}");
        }
    }

    #[test]
    fn what_cannot_be_named_is_unknown_and_unknown_products_keep_their_name() {
        for agent in ["", "   ", "???", "/1.0", "-x", "12345", "(compatible)"] {
            assert_eq!(
                by_headers(&headers(&[("user-agent", agent)])),
                Named::Unknown,
                "{agent:?}"
            );
        }
        assert_eq!(by_headers(&HeaderMap::new()), Named::Unknown);
        let mut odd = HeaderMap::new();
        odd.insert(
            header::USER_AGENT,
            HeaderValue::from_bytes(b"caf\xe9/1.0").unwrap(),
        );
        assert_eq!(by_headers(&odd), Named::Unknown, "not ASCII");
        assert_eq!(
            by_headers(&headers(&[("user-agent", "MyScript/1.0 (batch)")])),
            tool("MyScript")
        );
        let long = format!("{}/1.0", "a".repeat(60));
        assert_eq!(
            by_headers(&headers(&[("user-agent", &long)])),
            tool(&"a".repeat(MAX_NAME))
        );
        // An app title Redline does not know is what the app calls itself.
        assert_eq!(
            by_headers(&headers(&[
                ("user-agent", "OpenAI/JS 6.49.0"),
                ("x-title", "Nightly\tReport  Bot")
            ])),
            tool("NightlyReport Bot")
        );
    }

    #[test]
    fn a_borrowed_user_agent_is_not_believed() {
        // A Node program wearing Kimi Code CLI's User-Agent to get into the coding plan.
        let borrowed = with(&NODE_SDK, &[("user-agent", "KimiCLI/1.12.0")]);
        assert_eq!(by_headers(&borrowed), generic("openai-node"));
        let borrowed = with(
            &PYTHON_SDK,
            &[
                ("user-agent", "claude-cli/2.1.2 (external, cli)"),
                ("anthropic-version", "2023-06-01"),
            ],
        );
        assert_eq!(by_headers(&borrowed), generic("anthropic-python"));
        // ... unless what else it sends names it.
        let openclaw = with(
            &NODE_SDK,
            &[("user-agent", "KimiCLI/1.12.0"), ("x-title", "OpenClaw")],
        );
        assert_eq!(by_headers(&openclaw), tool("OpenClaw"));
        // The same User-Agent with the runtime it really has is believed.
        let kimi = with(&PYTHON_SDK, &[("user-agent", "KimiCLI/1.12.0")]);
        assert_eq!(by_headers(&kimi), tool("Kimi CLI"));
    }

    #[test]
    fn the_redline_header_names_the_tool_before_anything_else() {
        let sent = headers(&[
            ("user-agent", "claude-cli/2.1.104 (external, cli)"),
            ("x-redline-tool", "  review\tbot "),
        ]);
        assert_eq!(by_headers(&sent), tool("reviewbot"));
        // HTTP lets only tab through among control characters, and bytes past ASCII as
        // opaque data: such a header is not used.
        let mut odd = headers(&[("user-agent", "curl/8.5.0")]);
        odd.insert(X_REDLINE_TOOL, HeaderValue::from_bytes(b"caf\xe9").unwrap());
        assert_eq!(by_headers(&odd), tool("curl"));
        let long = "x".repeat(100);
        assert_eq!(
            by_headers(&headers(&[("X-Redline-Tool", &long)])),
            tool(&"x".repeat(MAX_NAME))
        );
        // Blank after cleaning: as if it were not there.
        assert_eq!(
            by_headers(&headers(&[
                ("x-redline-tool", " \t "),
                ("user-agent", "curl/8.5.0")
            ])),
            tool("curl")
        );
        assert_eq!(sanitise("a  b\u{1b}[31m"), Some("a b[31m".to_owned()));
        assert_eq!(sanitise("\u{1b}"), None);
    }

    #[tokio::test]
    async fn the_process_is_asked_only_when_the_headers_name_no_tool() {
        // A peer whose look-up would find nothing (not on loopback): the headers decide.
        let peer = Peer::new("192.0.2.1:50000".parse().unwrap(), None);
        let named = headers(&[("user-agent", "opencode/1.0.150")]);
        assert_eq!(name(&named, Some(&peer)).await, "opencode");
        let sdk = headers(&[("user-agent", "OpenAI/Python 3.57.0")]);
        assert_eq!(name(&sdk, Some(&peer)).await, "openai-python");
        assert_eq!(name(&HeaderMap::new(), None).await, UNKNOWN_TOOL);
        assert_eq!(peer.tool().await, None);
    }

    #[test]
    fn names_beyond_the_bound_are_counted_as_other_tools() {
        let mut seen = std::collections::HashSet::new();
        assert_eq!(admit(&mut seen, "Claude Code".into(), 2), "Claude Code");
        assert_eq!(admit(&mut seen, "Codex".into(), 2), "Codex");
        assert_eq!(admit(&mut seen, "Made-up-1".into(), 2), OTHER_TOOLS);
        assert_eq!(admit(&mut seen, "Claude Code".into(), 2), "Claude Code");
        assert_eq!(seen.len(), 2);
        let names = ToolNames::default();
        let recorded: std::collections::HashSet<String> = (0..1000)
            .map(|i| names.admit(format!("Invented/{i}")))
            .collect();
        assert_eq!(recorded.len(), MAX_TOOL_NAMES + 1);
        assert!(recorded.contains(OTHER_TOOLS));
    }
}
