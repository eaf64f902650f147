//! The engine's API: what the dashboard and the desktop app can ask of a running engine. The
//! HTTP routes (`server`) and the desktop app's commands both call these methods, so a browser
//! and the window do exactly the same thing.
//!
//! A secret comes in once (add, rotate) and never goes out: answers carry fingerprints only.

use crate::config::paths::Paths;
use crate::config::restart::{self, Launcher};
use crate::config::settings;
use crate::config::{ConcurrencyCap, Config, Notifications, Poll, Thresholds, validate_base_url};
use crate::error::Error;
use crate::history::store::Store;
use crate::history::{History, Range, read as read_history};
use crate::keys::account_id::AccountId;
use crate::keys::credentials::Credentials;
use crate::keys::destination;
use crate::keys::secret::Secret;
use crate::keys::token::TokenStore;
use crate::keys::vault::off_runtime;
use crate::keys::verify::{Verdict, verify};
use crate::keys::{KeyInfo, Keys, NewAccount, TestResult};
use crate::poll::fetch::HttpClient;
use crate::poll::monitor::Monitor;
use crate::providers::{ProviderId, Shows, provider};
use crate::proxy::Proxy;
use crate::proxy::traffic::Traffic;
use crate::status::health::ThrottleEvent;
use crate::status::model::Status;
use crate::tools::connect::Tool;
use crate::tools::connect::notice::ToolNotice;
use crate::tools::connect::service::{self, ConnectService, Judge, ServiceError};
use crate::tools::connect::setup::{self, SetupFor, SetupTokens};
use crate::tools::tool_env::Shell;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::sync::{Notify, broadcast, watch};

/// A handle on a running engine; clones share it.
#[derive(Clone)]
pub struct Api {
    inner: Arc<Inner>,
}

struct Inner {
    keys: Keys,
    monitor: Arc<Monitor>,
    client: HttpClient,
    credentials: Arc<Credentials>,
    listen: SocketAddr,
    /// The demo's config when the built-in demo runs (its accounts are in no saved config).
    demo: Option<Config>,
    traffic: Arc<Traffic>,
    proxy: Proxy,
    status: watch::Receiver<Status>,
    config_changed: Arc<Notify>,
    stopping: watch::Sender<bool>,
    history: Option<Store>,
    launcher: Launcher,
    paths: Paths,
    /// The tool watch's notices, for the event stream and the desktop's notifications.
    tool_notices: broadcast::Sender<ToolNotice>,
    /// One tool file edit at a time.
    tool_edits: tokio::sync::Mutex<()>,
}

/// What an engine host tells the API about itself.
pub struct ApiParts {
    pub keys: Keys,
    pub monitor: Arc<Monitor>,
    /// Checks keys with providers (the same host map as the monitor's).
    pub client: HttpClient,
    /// Redline's credentials: the tool token the setup snippet hands out, the admin credential
    /// the desktop window presents.
    pub credentials: Arc<Credentials>,
    /// Where the proxy listens, for the tool setup snippet.
    pub listen: SocketAddr,
    /// The config of the built-in demo when it is running, `None` for the user's own accounts.
    pub demo: Option<Config>,
    /// The proxy's traffic, for the log of refusals.
    pub traffic: Arc<Traffic>,
    /// `None` when the history database could not be opened (the daemon said why).
    pub history: Option<Store>,
    /// The running proxy (the desktop menu switches it on and off).
    pub proxy: Proxy,
    /// How the engine was started, to say how to restart it.
    pub launcher: Launcher,
    /// Where Redline's files are: tool tokens are made, and tools' backups kept, there.
    pub paths: Paths,
}

/// An error for the caller: an HTTP status, a stable code and one sentence saying what to do.
/// Serialises as `{"error":{"code":…,"message":…}}`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiError {
    pub status: u16,
    pub code: &'static str,
    pub message: String,
}

impl ApiError {
    pub fn new(status: u16, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ApiError {}

impl Serialize for ApiError {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Body<'a> {
            code: &'a str,
            message: &'a str,
        }
        #[derive(Serialize)]
        struct Envelope<'a> {
            error: Body<'a>,
        }
        Envelope {
            error: Body {
                code: self.code,
                message: &self.message,
            },
        }
        .serialize(serializer)
    }
}

impl From<Error> for ApiError {
    fn from(err: Error) -> ApiError {
        let (status, code) = match &err {
            Error::NoSuchAccount(_) => (404, "no_such_account"),
            Error::DuplicateAccount(_) => (409, "duplicate_account"),
            Error::SameKey(_) => (409, "same_key"),
            Error::NoPreviousKey(_) => (409, "no_previous_key"),
            Error::MissingSecret(_) => (409, "missing_secret"),
            Error::KeyCheckFailed(_) => (422, "key_check_failed"),
            Error::HostNotConfirmed { .. } => (428, "host_not_confirmed"),
            Error::InvalidId(_)
            | Error::UnknownProvider(_)
            | Error::InvalidBaseUrl(_)
            | Error::Secret(_) => (400, "invalid_input"),
            Error::UnknownSetting { .. }
            | Error::InvalidSetting { .. }
            | Error::InvalidChange(_) => (400, "invalid_setting"),
            Error::Keyring(_) => (503, "keyring"),
            Error::ConfigInvalid { .. } | Error::ConfigRead { .. } | Error::ConfigWrite { .. } => {
                (500, "config")
            }
            Error::Environment(_) => (500, "environment"),
        };
        ApiError::new(status, code, err.to_string())
    }
}

/// A new account and its key. `verify` (default true) checks the key with the provider first.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AddKey {
    pub id: String,
    pub provider: String,
    #[serde(default)]
    pub base_url: Option<String>,
    /// The base URL's host, when it is not the provider's and the user confirmed it.
    #[serde(default)]
    pub confirm_host: Option<String>,
    #[serde(default)]
    pub label: Option<String>,
    #[serde(deserialize_with = "secret_field")]
    pub secret: Secret,
    #[serde(default = "yes")]
    pub verify: bool,
}

/// A replacement key for `rotate`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RotateKey {
    #[serde(deserialize_with = "secret_field")]
    pub secret: Secret,
    #[serde(default = "yes")]
    pub verify: bool,
}

fn yes() -> bool {
    true
}

/// Reads a secret without ever quoting it in an error.
pub fn secret_field<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Secret, D::Error> {
    let mut text = zeroize::Zeroizing::new(String::deserialize(deserializer)?);
    let secret = Secret::parse(&text).map_err(serde::de::Error::custom);
    zeroize::Zeroize::zeroize(&mut *text);
    secret
}

/// The settings the dashboard edits, with the same names as `redline config set`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Settings {
    pub thresholds: Thresholds,
    pub poll: Poll,
    pub proxy: crate::config::Proxy,
    pub notifications: Notifications,
    pub accounts: BTreeMap<String, AccountSettings>,
    /// Where they are saved.
    pub path: String,
    /// The settings that wait for a restart, and how to restart this engine.
    pub restart: Restart,
}

/// Settings the running engine applies only when it restarts (all others apply at once).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Restart {
    pub settings: &'static [&'static str],
    /// What to do, as this engine runs: `systemctl --user restart redline.service`.
    pub how: String,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AccountSettings {
    pub provider: ProviderId,
    pub label: Option<String>,
    pub base_url: Option<String>,
    pub concurrency_cap: ConcurrencyCap,
    pub tier: Option<u64>,
}

/// One refusal for the events list: which account, which tool, and what the provider said.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ThrottleRecord {
    pub account: String,
    /// The tool that received it (`Claude Code`), from its User-Agent.
    pub tool: String,
    #[serde(flatten)]
    pub event: ThrottleEvent,
}

/// One provider for the "add a key" picker.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ProviderInfo {
    pub id: ProviderId,
    pub name: &'static str,
    /// What the key looks like and where to get it.
    pub key_hint: &'static str,
    /// The provider's hosts, the default first; each may be given as the base URL.
    pub regions: Vec<RegionInfo>,
    /// What Redline can show for it: `windows`, `balance`, `headers`.
    pub shows: &'static [Shows],
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RegionInfo {
    pub name: &'static str,
    pub api_base: &'static str,
}

impl Api {
    /// The API over a running engine.
    pub fn new(parts: ApiParts) -> Api {
        let ApiParts {
            keys,
            monitor,
            client,
            credentials,
            listen,
            demo,
            traffic,
            history,
            proxy,
            launcher,
            paths,
        } = parts;
        let status = monitor.status();
        Api {
            inner: Arc::new(Inner {
                keys,
                monitor,
                client,
                credentials,
                listen,
                demo,
                traffic,
                proxy,
                status,
                config_changed: Arc::new(Notify::new()),
                stopping: watch::channel(false).0,
                history,
                launcher,
                paths,
                tool_notices: broadcast::channel(32).0,
                tool_edits: tokio::sync::Mutex::new(()),
            }),
        }
    }

    pub fn status(&self) -> Status {
        self.inner.status.borrow().clone()
    }

    /// Wakes on every status change.
    pub fn status_changes(&self) -> watch::Receiver<Status> {
        self.inner.status.clone()
    }

    /// The engine's own address for a client on this machine (loopback even when it listens
    /// on every interface) and the admin credential that client presents: what the desktop
    /// app's window process needs to reach it.
    pub fn local_access(&self) -> (String, Secret) {
        let mut addr = self.inner.listen;
        if addr.ip().is_unspecified() {
            addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
        }
        (format!("http://{addr}"), self.inner.credentials.admin())
    }

    /// Redline's credentials in this engine.
    pub fn credentials(&self) -> &Arc<Credentials> {
        &self.inner.credentials
    }

    /// Notified after every change the API made to the config, so the engine applies it now
    /// rather than at its next check of the file.
    pub fn config_changed(&self) -> Arc<Notify> {
        self.inner.config_changed.clone()
    }

    /// Tells long-lived streams (live status events) to end, so the server can stop.
    pub fn stop(&self) {
        self.inner.stopping.send_replace(true);
    }

    /// Turns true once the engine is stopping.
    pub fn stopping(&self) -> watch::Receiver<bool> {
        self.inner.stopping.subscribe()
    }

    /// Polls every account now; returns the status once each has answered.
    pub async fn refresh(&self) -> Status {
        self.inner.monitor.refresh_all().await;
        let mut changes = self.status_changes();
        // The monitor publishes the polls' results a moment later; take what it has.
        let _ =
            tokio::time::timeout(std::time::Duration::from_millis(500), changes.changed()).await;
        self.status()
    }

    /// The latest refusals the proxy saw, every account, newest first.
    pub fn throttle_log(&self, limit: usize) -> Vec<ThrottleRecord> {
        let status = self.status();
        let mut records: Vec<ThrottleRecord> =
            status
                .accounts
                .iter()
                .filter_map(|a| a.id.parse::<AccountId>().ok())
                .flat_map(|id| {
                    self.inner.traffic.throttles_by_tool(&id).into_iter().map(
                        move |(tool, event)| ThrottleRecord {
                            account: id.to_string(),
                            tool,
                            event,
                        },
                    )
                })
                .collect();
        records.sort_by_key(|r| std::cmp::Reverse(r.event.at));
        records.truncate(limit);
        records
    }

    /// The series the dashboard's charts draw, for one account over a day or a week.
    pub async fn history(&self, account: &str, range: &str) -> Result<History, ApiError> {
        let range =
            Range::parse(range).map_err(|message| ApiError::new(400, "bad_request", message))?;
        if !self.status().accounts.iter().any(|a| a.id == account) {
            return Err(ApiError::new(
                404,
                "no_such_account",
                format!("no account named {account:?}: see the status for the ids"),
            ));
        }
        let Some(store) = self.inner.history.clone() else {
            return Err(ApiError::new(
                503,
                "no_history",
                "history is off: the history database could not be opened (Redline's log says why)",
            ));
        };
        let account = account.to_owned();
        tokio::task::spawn_blocking(move || read_history(&store, &account, range))
            .await
            .map_err(|_| ApiError::new(500, "history", "reading the history failed"))?
            .map_err(|err| ApiError::new(500, "history", err.to_string()))
    }

    pub fn list_keys(&self) -> Result<Vec<KeyInfo>, ApiError> {
        Ok(self.inner.keys.list()?)
    }

    pub async fn add_key(&self, request: AddKey) -> Result<KeyInfo, ApiError> {
        let AddKey {
            id,
            provider,
            base_url,
            confirm_host,
            label,
            secret,
            verify,
        } = request;
        let id: AccountId = id.parse().map_err(Error::from)?;
        let provider: ProviderId = provider.parse().map_err(Error::from)?;
        let base_url = base_url.filter(|url| !url.trim().is_empty());
        // A taken id or a bad URL fails before the provider is asked.
        if self.inner.keys.config().load()?.accounts.contains_key(&id) {
            return Err(Error::DuplicateAccount(id.to_string()).into());
        }
        if let Some(url) = &base_url {
            validate_base_url(url).map_err(Error::InvalidBaseUrl)?;
            // Before the check, which sends the key there.
            destination::check(provider, url, confirm_host.as_deref())?;
        }
        let check = self
            .check(verify, provider, base_url.as_deref(), &secret)
            .await?;
        let new = NewAccount {
            id,
            provider,
            base_url,
            label,
            check,
            confirm_host,
        };
        let info = self.inner.keys.add(new, secret).await?;
        self.inner.config_changed.notify_one();
        Ok(info)
    }

    pub async fn test_key(&self, id: &str) -> Result<TestResult, ApiError> {
        let id: AccountId = id.parse().map_err(Error::from)?;
        let result = self.inner.keys.test(id, &self.inner.client).await?;
        Ok(result)
    }

    /// Replaces the key, keeping the old one for [`Api::rollback_key`].
    pub async fn rotate_key(
        &self,
        id: &str,
        secret: Secret,
        verify: bool,
    ) -> Result<KeyInfo, ApiError> {
        let id: AccountId = id.parse().map_err(Error::from)?;
        let account = self.inner.keys.config().load()?.account(&id)?.clone();
        let check = self
            .check(
                verify,
                account.provider,
                account.base_url.as_deref(),
                &secret,
            )
            .await?;
        let info = self.inner.keys.rotate(id, secret, check).await?;
        self.inner.config_changed.notify_one();
        Ok(info)
    }

    pub async fn rollback_key(&self, id: &str) -> Result<KeyInfo, ApiError> {
        let id: AccountId = id.parse().map_err(Error::from)?;
        let info = self.inner.keys.rollback(id).await?;
        self.inner.config_changed.notify_one();
        Ok(info)
    }

    pub async fn remove_key(&self, id: &str) -> Result<(), ApiError> {
        let id: AccountId = id.parse().map_err(Error::from)?;
        self.inner.keys.remove(id).await?;
        self.inner.config_changed.notify_one();
        Ok(())
    }

    pub fn settings(&self) -> Result<Settings, ApiError> {
        let config = self.inner.keys.config().load()?;
        Ok(self.settings_of(config))
    }

    /// Validates and saves every change together (`thresholds.warn` → `"70"`, names as in
    /// `redline config set`); a refused change saves nothing.
    pub fn save_settings(&self, changes: BTreeMap<String, String>) -> Result<Settings, ApiError> {
        self.save_settings_confirmed(changes, None)
    }

    /// [`Api::save_settings`], where a base URL may point at a host its provider does not own
    /// when `confirm_host` names it.
    pub fn save_settings_confirmed(
        &self,
        changes: BTreeMap<String, String>,
        confirm_host: Option<&str>,
    ) -> Result<Settings, ApiError> {
        if changes.is_empty() {
            return self.settings();
        }
        let file = self.inner.keys.config();
        let changes: Vec<(&str, &str)> = changes
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let config = settings::set_many_confirmed(file, &changes, confirm_host)?;
        self.inner.config_changed.notify_one();
        Ok(self.settings_of(config))
    }

    /// What each tool needs to go through Redline for one account (`redline env ID
    /// [--tool TOOL]`), with each tool's own tool token (never the admin credential); in the
    /// demo, for the demo's accounts and with the demo's token (which opens only the demo).
    pub async fn tool_setup(
        &self,
        id: &str,
        shell: Shell,
        tool: Option<&str>,
    ) -> Result<String, ApiError> {
        let id: AccountId = id.parse().map_err(Error::from)?;
        let what = tool
            .map(setup::parse_for)
            .transpose()
            .map_err(|message| ApiError::new(400, "invalid_input", message))?;
        let demo_account = self
            .inner
            .demo
            .as_ref()
            .and_then(|demo| demo.accounts.get(&id));
        let (provider, tokens, demo) = match demo_account {
            Some(account) => {
                let token = self.inner.credentials.default_tool_token().ok_or_else(|| {
                    ApiError::new(
                        409,
                        "no_tool_token",
                        "the demo has no tool token; restart it",
                    )
                })?;
                (account.provider, SetupTokens::same(token), true)
            }
            None => {
                let config = self.inner.keys.config().load()?;
                let provider = config.account(&id)?.provider;
                let store = TokenStore::from_paths(&self.inner.paths);
                let tokens = off_runtime(move || match what {
                    Some(what) => SetupTokens::load_for(&store, what),
                    None => SetupTokens::load(&store),
                })
                .await?;
                (provider, tokens, false)
            }
        };
        let of = SetupFor {
            account: id.as_str(),
            provider,
            address: self.loopback(),
            demo,
        };
        match what {
            Some(what) => setup::one(what, of, &tokens, shell)
                .map_err(|message| ApiError::new(422, "tool_cannot_use_account", message)),
            None => {
                let home = crate::tools::key_scan::home_dir().unwrap_or_default();
                Ok(setup::all(of, &tokens, shell, &home))
            }
        }
    }

    /// Switches the proxy's forwarding on or off ("Proxy on" in the desktop menu).
    pub fn set_proxy_enabled(&self, on: bool) {
        self.inner.proxy.set_enabled(on);
    }

    pub fn proxy_enabled(&self) -> bool {
        self.inner.proxy.is_enabled()
    }

    pub fn providers(&self) -> Vec<ProviderInfo> {
        ProviderId::ALL
            .iter()
            .map(|&id| ProviderInfo {
                id,
                name: id.display_name(),
                key_hint: id.facts().key_hint,
                shows: id.facts().shows,
                regions: provider(id)
                    .regions()
                    .iter()
                    .map(|r| RegionInfo {
                        name: r.name,
                        api_base: r.api_base,
                    })
                    .collect(),
            })
            .collect()
    }

    /// The provider's verdict when `verify`; a key it does not accept is refused.
    async fn check(
        &self,
        verify_first: bool,
        provider: ProviderId,
        base_url: Option<&str>,
        secret: &Secret,
    ) -> Result<Option<TestResult>, ApiError> {
        if !verify_first {
            return Ok(None);
        }
        match verify(&self.inner.client, provider, base_url, secret).await {
            verdict @ Verdict::Valid(_) => Ok(Some(TestResult::passed(verdict.message()))),
            // The CLI's way out is a flag; here it is the request's `verify`.
            Verdict::Inconclusive { message, .. } => Err(ApiError::new(
                502,
                "key_not_checked",
                format!(
                    "the key was not stored: {}",
                    message.replace(
                        "pass --no-verify to store it unchecked",
                        "store it without the check (untick \"Check the key\", or send \"verify\": false)"
                    )
                ),
            )),
            other => Err(Error::KeyCheckFailed(other.message()).into()),
        }
    }
}

/// Parses `sh`, `fish` or `powershell`.
pub fn parse_shell(text: &str) -> Result<Shell, ApiError> {
    <Shell as clap::ValueEnum>::from_str(text, true).map_err(|_| {
        ApiError::new(
            400,
            "invalid_input",
            format!("unknown shell {text:?}: use sh, fish or powershell"),
        )
    })
}

impl Api {
    /// What to do to restart this engine, as it was started.
    pub fn how_to_restart(&self) -> String {
        self.inner.launcher.how_to_restart()
    }

    fn settings_of(&self, config: Config) -> Settings {
        let path = self.inner.keys.config().path();
        let restart = Restart {
            settings: restart::ON_RESTART,
            how: self.how_to_restart(),
        };
        settings_of(config, path, restart)
    }
}

/// The body of a connect and its preview.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConnectTool {
    /// The account the tool's requests go to.
    pub account: String,
}

impl From<ServiceError> for ApiError {
    fn from(err: ServiceError) -> ApiError {
        ApiError::new(err.status(), err.code(), err.to_string())
    }
}

/// Connecting tools (`redline connect`, `disconnect`, `tools`), through the same service the
/// CLI uses.
impl Api {
    /// Where this engine is reached on this machine: its address, loopback for a wildcard.
    fn loopback(&self) -> SocketAddr {
        crate::status::source::engine_address(self.inner.listen)
    }

    fn connect_service(&self) -> Result<ConnectService, ApiError> {
        Ok(ConnectService::new(self.inner.paths.data_dir())?)
    }

    fn tool(name: &str) -> Result<Tool, ApiError> {
        Tool::from_name(name).ok_or_else(|| {
            ApiError::new(
                404,
                "unknown_tool",
                format!(
                    "unknown tool {name:?}; Redline can connect {}",
                    Tool::ALL.map(Tool::name).join(", ")
                ),
            )
        })
    }

    /// The tool tokens to judge the files' tokens by: the engine's own set; none in the demo,
    /// whose only token is its own (and which never asks the keyring).
    fn tool_tokens(&self) -> Vec<(String, Secret)> {
        if self.inner.demo.is_some() {
            return Vec::new();
        }
        let credentials = &self.inner.credentials;
        credentials
            .tool_names()
            .into_iter()
            .filter_map(|name| Some((name.to_string(), credentials.tool_token(&name)?)))
            .collect()
    }

    /// Every tool Redline can connect: its config file, whether it is installed, where it
    /// points, and which accounts it can use (`redline tools --json`, plus `demo`).
    pub async fn tools(&self) -> Result<Value, ApiError> {
        let accounts = self.inner.keys.list()?;
        let tokens = self.tool_tokens();
        let service = self.connect_service()?;
        let running = self.loopback();
        let mut report = tokio::task::spawn_blocking(move || {
            service
                .report(&Judge {
                    accounts: &accounts,
                    tokens: &tokens,
                    running,
                })
                .to_json()
        })
        .await
        .map_err(|_| ApiError::new(500, "internal", "reading the tools' files failed"))?;
        report["demo"] = json!(self.inner.demo.is_some());
        Ok(report)
    }

    /// The tool, account and planned edit of a connect (nothing written yet).
    async fn prepare_connect(
        &self,
        tool: &str,
        account: &str,
    ) -> Result<(ConnectService, service::Prepared), ApiError> {
        let tool = Self::tool(tool)?;
        if self.inner.demo.is_some() {
            return Err(ApiError::new(
                409,
                "demo",
                "Redline is running its demo, whose accounts are simulated: add a real key under Keys, then connect tools to it",
            ));
        }
        let account: AccountId = account.parse().map_err(Error::from)?;
        let provider = self.inner.keys.config().load()?.account(&account)?.provider;
        let token = service::tool_token(TokenStore::from_paths(&self.inner.paths), tool).await?;
        let service = self.connect_service()?;
        let address = self.loopback();
        let planning = service.clone();
        let prepared = tokio::task::spawn_blocking(move || {
            planning.prepare(tool, account.as_str(), provider, address, token)
        })
        .await
        .map_err(|_| ApiError::new(500, "internal", "planning the change failed"))??;
        Ok((service, prepared))
    }

    fn prepared_json(service: &ConnectService, prepared: &service::Prepared) -> Value {
        let tool = prepared.tool;
        json!({
            "tool": tool.name(),
            "name": tool.display_name(),
            "account": prepared.account,
            "config_path": prepared.path,
            "config_file": service::shown_path(&prepared.path, service.home()),
            "creates": prepared.edit.creates,
            "preview": prepared.edit.preview,
            "style": prepared.target.style.name(),
            "model": prepared.target.model,
            "base_url": prepared.target.base_url,
        })
    }

    /// What connecting `tool` to `account` would change, the token masked; writes nothing.
    pub async fn preview_connect(&self, tool: &str, account: &str) -> Result<Value, ApiError> {
        let (service, prepared) = self.prepare_connect(tool, account).await?;
        Ok(Self::prepared_json(&service, &prepared))
    }

    /// Points `tool` at this Redline for `account` (its own tool token, never the admin
    /// credential), keeps the previous file for [`Api::disconnect_tool`], reads it back, and
    /// sends one request through the proxy the way the tool will.
    pub async fn connect_tool(&self, tool: &str, account: &str) -> Result<Value, ApiError> {
        let _one_at_a_time = self.inner.tool_edits.lock().await;
        let (service, prepared) = self.prepare_connect(tool, account).await?;
        let prepared = Arc::new(prepared);
        let (writing, writer) = (prepared.clone(), service.clone());
        tokio::task::spawn_blocking(move || writer.write(&writing))
            .await
            .map_err(|_| ApiError::new(500, "internal", "writing the file failed"))??;
        let proof = service::prove(prepared.tool, &prepared.target, prepared.address).await;
        let mut answer = Self::prepared_json(&service, &prepared);
        answer["proof"] = proof.to_json();
        answer["message"] =
            json!(proof.sentence(prepared.tool, &prepared.account, prepared.address));
        Ok(answer)
    }

    /// Takes Redline back out of `tool`'s file: the previous bytes when it is unchanged since,
    /// else only Redline's settings removed.
    pub async fn disconnect_tool(&self, tool: &str) -> Result<Value, ApiError> {
        let tool = Self::tool(tool)?;
        let _one_at_a_time = self.inner.tool_edits.lock().await;
        let service = self.connect_service()?;
        let home = service.home().to_path_buf();
        let done = tokio::task::spawn_blocking(move || service.disconnect(tool))
            .await
            .map_err(|_| ApiError::new(500, "internal", "restoring the file failed"))??;
        Ok(json!({
            "tool": tool.name(),
            "name": tool.display_name(),
            "config_path": done.path(),
            "config_file": service::shown_path(done.path(), &home),
            "outcome": done.code(),
            "message": done.sentence(tool),
        }))
    }

    /// Hands a notice of the tool watch to the event stream and the desktop app.
    pub fn publish_tool_notice(&self, notice: ToolNotice) {
        // Nobody listening is fine.
        let _ = self.inner.tool_notices.send(notice);
    }

    /// The tool watch's notices from now on.
    pub fn tool_notices(&self) -> broadcast::Receiver<ToolNotice> {
        self.inner.tool_notices.subscribe()
    }

    /// Where Redline's files are.
    pub fn paths(&self) -> &Paths {
        &self.inner.paths
    }
}

fn settings_of(config: Config, path: &std::path::Path, restart: Restart) -> Settings {
    Settings {
        accounts: config
            .accounts
            .iter()
            .map(|(id, a)| {
                let settings = AccountSettings {
                    provider: a.provider,
                    label: a.label.clone(),
                    base_url: a.base_url.clone(),
                    concurrency_cap: a.concurrency_cap,
                    tier: a.tier,
                };
                (id.to_string(), settings)
            })
            .collect(),
        thresholds: config.thresholds,
        poll: config.poll,
        proxy: config.proxy,
        notifications: config.notifications,
        path: path.display().to_string(),
        restart,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_serialise_as_code_and_message() {
        let err: ApiError = Error::NoSuchAccount("x".into()).into();
        assert_eq!(err.status, 404);
        let json = serde_json::to_value(&err).unwrap();
        assert_eq!(json["error"]["code"], "no_such_account");
        assert!(
            json["error"]["message"]
                .as_str()
                .unwrap()
                .contains("no account named x")
        );
    }

    #[test]
    fn a_bad_secret_is_refused_without_being_quoted() {
        let body = r#"{"id":"a","provider":"openai","secret":"sk-abc def-SECRETPART"}"#;
        let err = serde_json::from_str::<AddKey>(body)
            .unwrap_err()
            .to_string();
        assert!(!err.contains("SECRETPART"), "{err}");
        let ok: AddKey =
            serde_json::from_str(r#"{"id":"a","provider":"openai","secret":" sk-abc\n"}"#).unwrap();
        assert_eq!(ok.secret.expose(), "sk-abc");
        assert!(ok.verify, "keys are checked unless asked not to");
    }

    #[test]
    fn every_provider_has_a_hint_and_a_default_region() {
        for id in ProviderId::ALL {
            assert!(!id.facts().key_hint.is_empty());
            assert!(!provider(id).regions().is_empty(), "{id}");
        }
        assert!(parse_shell("fish").is_ok());
        assert_eq!(parse_shell("zsh").unwrap_err().status, 400);
    }
}
