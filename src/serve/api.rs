//! The engine's API: what the dashboard and the desktop app can ask of a running engine. The
//! HTTP routes (`server`) and the desktop app's commands both call these methods, so a browser
//! and the window do exactly the same thing.
//!
//! A secret comes in once (add, rotate) and never goes out: answers carry fingerprints only.

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
use crate::keys::verify::{Verdict, verify};
use crate::keys::{KeyInfo, Keys, NewAccount, TestResult};
use crate::poll::fetch::HttpClient;
use crate::poll::monitor::Monitor;
use crate::providers::{ProviderId, provider};
use crate::proxy::Proxy;
use crate::proxy::traffic::Traffic;
use crate::status::health::ThrottleEvent;
use crate::status::model::Status;
use crate::tools::tool_env::{self, Shell};
use serde::{Deserialize, Deserializer, Serialize};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::sync::{Notify, watch};

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

    /// The lines that point tools at the proxy for one account (`redline env ID`), with the
    /// default tool token (never the admin credential); in the demo, for the demo's accounts
    /// and with the demo's token (which opens only the demo).
    pub fn tool_setup(&self, id: &str, shell: Shell) -> Result<String, ApiError> {
        let id: AccountId = id.parse().map_err(Error::from)?;
        let token = self.inner.credentials.default_tool_token().ok_or_else(|| {
            ApiError::new(
                409,
                "no_tool_token",
                "the default tool token was revoked: make a new one with `redline token`, then try again",
            )
        })?;
        let (listen, token) = (self.inner.listen, token.expose());
        let demo_account = self
            .inner
            .demo
            .as_ref()
            .and_then(|demo| demo.accounts.get(&id));
        if let Some(account) = demo_account {
            return Ok(tool_env::render_demo(
                id.as_str(),
                account.provider,
                listen,
                token,
                shell,
            ));
        }
        let config = self.inner.keys.config().load()?;
        let account = config.account(&id)?;
        Ok(tool_env::render(
            id.as_str(),
            account.provider,
            listen,
            token,
            shell,
        ))
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
                key_hint: key_hint(id),
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

/// What a provider's key looks like and where it comes from.
fn key_hint(id: ProviderId) -> &'static str {
    match id {
        ProviderId::KimiCode => {
            "A Kimi Code key (starts with sk-kimi-) from kimi.com → Kimi Code → API keys"
        }
        ProviderId::Moonshot => {
            "A Moonshot open platform key (starts with sk-) from platform.moonshot.ai or platform.moonshot.cn"
        }
        ProviderId::Openai => "An OpenAI API key (starts with sk-) from platform.openai.com",
        ProviderId::Anthropic => {
            "An Anthropic API key (starts with sk-ant-api) from console.anthropic.com"
        }
        ProviderId::Claude => {
            "A Claude subscription token (starts with sk-ant-oat) from `claude setup-token`"
        }
        ProviderId::Openrouter => "An OpenRouter key (starts with sk-or-) from openrouter.ai/keys",
        ProviderId::Deepseek => "A DeepSeek key (starts with sk-) from platform.deepseek.com",
        ProviderId::Zai => "A Z.ai key from z.ai → API keys (the GLM coding plan key)",
        ProviderId::Minimax => "A MiniMax key from the MiniMax platform → API keys",
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
            assert!(!key_hint(id).is_empty());
            assert!(!provider(id).regions().is_empty(), "{id}");
        }
        assert!(parse_shell("fish").is_ok());
        assert_eq!(parse_shell("zsh").unwrap_err().status, 400);
    }
}
