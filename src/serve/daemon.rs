//! `redline daemon`: the whole engine without a window. Polls every account, runs the proxy,
//! and serves the dashboard and JSON API on one loopback port until SIGINT or SIGTERM.

use crate::config::Config;
use crate::config::paths::Paths;
use crate::config::restart::{self, Launcher};
use crate::error::Error;
use crate::history::status_rows;
use crate::history::store::Store;
use crate::keys::Keys;
use crate::keys::account_id::AccountId;
use crate::keys::credentials::Credentials;
use crate::keys::token::{DEFAULT_TOOL, TokenStore, generate_admin, generate_token};
use crate::keys::vault::Vault;
use crate::lanes::Lanes;
use crate::poll::fetch::{HostMap, HttpClient};
use crate::poll::monitor::{
    Monitor, Secrets, keep_known, keyring_down, load_secrets_quietly, retry_keyring,
};
use crate::proxy::traffic::{FinishedRequest, Traffic, TrafficObserver};
use crate::proxy::{Proxy, ProxySettings, Upstream, upstream_origin};
use crate::serve::api::{Api, ApiParts};
use crate::serve::demo;
use crate::serve::listener::{self, Connections, Limits};
use crate::serve::metrics::Metrics;
use crate::serve::router::{AppState, router};
use crate::shared::{RedisUrl, SharedLimits};
use crate::status::health::ThrottleEvent;
use crate::status::model::Status;
use crate::tools::connect::notice::ToolNotice;
use crate::tools::connect::service::ConnectService;
use crate::tools::connect::watch as tool_watch;
use crate::tools::surroundings;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

#[derive(Clone, Debug, Default)]
pub struct DaemonOptions {
    /// Overrides `proxy.listen` from the config.
    pub listen: Option<SocketAddr>,
    pub allow_remote: bool,
    /// Simulated providers and agents instead of the configured accounts.
    pub demo: bool,
    /// Open the dashboard in the default browser once listening.
    pub open_browser: bool,
    /// Run by the desktop app (which says how to restart it).
    pub desktop_app: bool,
    /// Whether the demo is seen (the desktop app's window open): its workload runs only then.
    /// `None`: always.
    pub demo_watched: demo::Watched,
}

/// Refuses an address other machines could reach, unless the user insisted.
pub fn check_listen(addr: SocketAddr, allow_remote: bool) -> Result<(), Error> {
    match crate::config::remote_listen_refusal(addr) {
        Some(refusal) if !allow_remote => Err(Error::Environment(refusal)),
        _ => Ok(()),
    }
}

/// What the engine runs on: the accounts, their secrets and Redline's credentials.
pub struct Inputs {
    pub config: Config,
    pub secrets: Secrets,
    /// Tool tokens (the proxy), the admin credential (API, dashboard, /metrics).
    pub credentials: Arc<Credentials>,
    pub hosts: HostMap,
    pub keys: Keys,
    pub allow_remote: bool,
    /// Where the local port listens (for the tool setup snippet).
    pub listen: SocketAddr,
    /// The built-in demo is running.
    pub demo: bool,
    /// How this engine was started, to say how to restart it.
    pub launcher: Launcher,
    /// Where Redline's files are (tool tokens, tools' backups).
    pub paths: Paths,
}

/// Starts monitoring and the proxy; the result is what the local port serves.
pub fn start(inputs: Inputs) -> AppState {
    start_with_history(inputs, None)
}

/// [`start`], recording traffic and usage into `history` when there is one.
pub fn start_with_history(inputs: Inputs, history: Option<Store>) -> AppState {
    let Inputs {
        config,
        secrets,
        credentials,
        hosts,
        keys,
        allow_remote,
        listen,
        demo,
        launcher,
        paths,
    } = inputs;
    let traffic = Traffic::new();
    let metrics = Metrics::new();
    traffic.set_observer(Arc::new(Observers {
        metrics: metrics.clone(),
        history: history.clone(),
    }));
    if let Some(store) = &history {
        remember_traffic(store, &traffic, &config);
    }
    let settings = ProxySettings::from_config(&config.proxy);
    let connections = Connections::new(Limits::from_config(&config.proxy));
    let proxy = Proxy::with_credentials(
        settings,
        hosts.clone(),
        credentials.clone(),
        traffic.clone(),
    );
    let client = HttpClient::new(hosts);
    let monitor = Arc::new(Monitor::start(
        config.clone(),
        secrets.clone(),
        client.clone(),
        traffic.clone(),
        demo,
    ));
    proxy.set_upstreams(upstreams(&config, &secrets, &monitor.status().borrow()));
    if !demo {
        share_limits(&proxy, config.shared.redis_url.as_ref());
    }
    let api = Api::new(ApiParts {
        keys: keys.clone(),
        monitor: monitor.clone(),
        client,
        credentials: credentials.clone(),
        listen,
        demo: demo.then(|| config.clone()),
        traffic,
        history: history.clone(),
        proxy: proxy.clone(),
        launcher,
        paths,
    });
    if let Some(store) = &history {
        tokio::spawn(sample_status(monitor.status(), store.clone()));
    }
    AppState {
        credentials,
        allow_remote,
        monitor,
        keys,
        proxy,
        api,
        metrics,
        history,
        connections,
    }
}

/// Both books the proxy's traffic goes to.
struct Observers {
    metrics: Metrics,
    history: Option<Store>,
}

impl TrafficObserver for Observers {
    fn request_finished(&self, request: &FinishedRequest<'_>) {
        self.metrics.request_finished(request);
        if let Some(store) = &self.history {
            store.request_finished(request);
        }
    }

    fn throttled(&self, account: &AccountId, client: &str, event: &ThrottleEvent) {
        self.metrics.throttled(account, client, event);
        if let Some(store) = &self.history {
            store.throttled(account, client, event);
        }
    }

    fn queue_waited(&self, account: &AccountId, client: &str, waited: Duration) {
        self.metrics.queue_waited(account, client, waited);
    }
}

/// Seeds the live traffic figures with what the history holds from before this start, so a
/// restart does not zero the hour's requests or the day's tokens.
fn remember_traffic(store: &Store, traffic: &Arc<Traffic>, config: &Config) {
    let accounts: Vec<AccountId> = config.accounts.keys().cloned().collect();
    // Rows this run writes come after this moment, and are not read back.
    let until_ms = crate::history::store::now_ms();
    let (store, traffic) = (store.clone(), traffic.clone());
    tokio::task::spawn_blocking(move || {
        let read = store.reader().and_then(|reader| {
            crate::history::remembered(&reader, &accounts, until_ms)
                .map_err(|e| Error::Environment(e.to_string()))
        });
        match read {
            Ok(remembered) => traffic.remember(remembered, crate::history::store::now_ms()),
            Err(err) => eprintln!("redline: the traffic figures start from zero: {err}"),
        }
    });
}

/// How often usage and in-flight are written to the history between polls.
const HISTORY_SAMPLE: Duration = Duration::from_secs(60);

/// Writes each window's usage and the requests in flight into the history: once a minute,
/// and at once when a poll brings new usage.
async fn sample_status(mut status: tokio::sync::watch::Receiver<Status>, store: Store) {
    let mut tick = tokio::time::interval(HISTORY_SAMPLE);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let polled =
        |status: &Status| -> Vec<_> { status.accounts.iter().map(|a| a.updated_at).collect() };
    let mut last_polled = polled(&status.borrow());
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            changed = status.changed() => {
                if changed.is_err() {
                    return;
                }
                let now = polled(&status.borrow_and_update());
                if now == last_polled {
                    continue;
                }
                last_polled = now;
            }
        }
        let rows = status_rows(&status.borrow(), jiff::Timestamp::now());
        for row in rows {
            store.record(row);
        }
    }
}

/// Opens the history database; Redline runs without history (and says so) when it cannot.
/// The demo keeps a fresh history of its own so simulated traffic never mixes with real.
fn open_history(paths: &Paths, config: &Config, demo: bool) -> Option<Store> {
    let (path, retention_days) = if demo {
        let path = paths.data_dir().join("demo-history.sqlite3");
        for suffix in ["", "-wal", "-shm"] {
            let mut file = path.clone().into_os_string();
            file.push(suffix);
            let _ = std::fs::remove_file(file);
        }
        (path, 1)
    } else {
        (
            paths.data_dir().join(crate::history::store::FILE_NAME),
            config.history.retention_days,
        )
    };
    match Store::open(&path, retention_days) {
        Ok(store) => Some(store),
        Err(err) => {
            eprintln!("redline: running without history: {err}");
            None
        }
    }
}

/// Shares the accounts' caps through the server at `url` from now on (`None`: this machine's
/// caps alone). Requests already holding a lease on a previous server give it back there.
fn share_limits(proxy: &Proxy, url: Option<&RedisUrl>) {
    let shared = url.map(|url| SharedLimits::start(url.clone(), machine_name()));
    proxy.set_shared(shared.clone());
    match shared {
        Some(shared) => {
            tokio::spawn(publish_shared(proxy.clone(), shared));
        }
        None => proxy.publish_shared(),
    }
}

/// Keeps the status's shared-limit figures current: at once when the server goes out of
/// reach or comes back, else every second; until the proxy shares through another server.
async fn publish_shared(proxy: Proxy, shared: SharedLimits) {
    let mut link = shared.link();
    while proxy.shared().is_some_and(|current| current.is(&shared)) {
        proxy.publish_shared();
        tokio::select! {
            changed = link.changed() => if changed.is_err() { return },
            () = tokio::time::sleep(std::time::Duration::from_secs(1)) => {}
        }
    }
}

/// This machine's name in the shared limits' figures and the `machine` metric label:
/// `REDLINE_MACHINE` when set, else the host name.
fn machine_name() -> String {
    std::env::var("REDLINE_MACHINE")
        .ok()
        .filter(|name| !name.trim().is_empty())
        .or_else(sysinfo::System::host_name)
        .unwrap_or_else(|| "this-machine".to_owned())
}

/// What the proxy needs per account. A cap of "auto" follows the provider's limit as the
/// status knows it (Kimi's `parallel.limit`, a Moonshot tier's).
fn upstreams(config: &Config, secrets: &Secrets, status: &Status) -> HashMap<AccountId, Upstream> {
    config
        .accounts
        .iter()
        .map(|(id, account)| {
            let known_limit = status
                .accounts
                .iter()
                .find(|a| a.id == id.as_str())
                .and_then(|a| a.concurrency.limit);
            let upstream = Upstream {
                provider: account.provider,
                origin: upstream_origin(account.provider, account.base_url.as_deref()),
                secret: secrets.get(id).and_then(|s| s.as_ref().ok()).cloned(),
                concurrency_cap: account.concurrency_cap.resolve(known_limit),
            };
            (id.clone(), upstream)
        })
        .collect()
}

fn caps(upstreams: &HashMap<AccountId, Upstream>) -> HashMap<AccountId, u64> {
    upstreams
        .iter()
        .map(|(id, u)| (id.clone(), u.concurrency_cap))
        .collect()
}

/// Runs until SIGINT or SIGTERM, then lets requests in progress finish.
pub async fn run(paths: &Paths, options: DaemonOptions) -> Result<(), Error> {
    serve(paths, options, shutdown_signal()).await
}

/// Serves until `shutdown` completes (the desktop app serves for as long as it runs).
pub async fn serve(
    paths: &Paths,
    options: DaemonOptions,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), Error> {
    serve_with(paths, options, shutdown, |_| {}).await
}

/// What the desktop app runs: the user's accounts, or the built-in demo while none is
/// configured (or when `options.demo` asks for it). A key added while the demo runs (the
/// dashboard's "Add a real key") stops the demo and starts the user's accounts on the same
/// address, so that key is watched at once. `on_ready` gets each engine's [`Api`] as it
/// starts listening; `shutdown` ends whichever runs.
pub async fn serve_accounts_or_demo(
    paths: &Paths,
    options: DaemonOptions,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    mut on_ready: impl FnMut(Api),
) -> Result<(), Error> {
    let (quit, quitting) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        shutdown.await;
        let _ = quit.send(true);
    });
    let keys = Keys::from_paths(paths);
    let mut demo = options.demo;
    loop {
        // The config file alone says how many keys there are; the keyring is not asked.
        let key_count = keys.list().map_or(0, |list| list.len());
        demo |= key_count == 0;
        let key_added = Arc::new(tokio::sync::Notify::new());
        let mut quitting_now = quitting.clone();
        let leave_demo = key_added.clone();
        let stop = async move {
            tokio::select! {
                _ = quitting_now.wait_for(|quit| *quit) => {}
                _ = leave_demo.notified() => {}
            }
        };
        let on_this_ready = |api: Api| {
            if demo {
                tokio::spawn(notify_when_key_added(
                    api.clone(),
                    keys.clone(),
                    key_count,
                    key_added,
                ));
            }
            on_ready(api);
        };
        let this_run = DaemonOptions {
            demo,
            desktop_app: true,
            ..options.clone()
        };
        serve_with(paths, this_run, stop, on_this_ready).await?;
        if *quitting.borrow() || !demo {
            return Ok(());
        }
        eprintln!("redline: a key was added; leaving the demo for your accounts");
        demo = false;
    }
}

/// Wakes `key_added` once the user's config holds more than `before` keys (checked whenever
/// the API changed the config). Ends with the engine.
async fn notify_when_key_added(
    api: Api,
    keys: Keys,
    before: usize,
    key_added: Arc<tokio::sync::Notify>,
) {
    let changed = api.config_changed();
    let mut stopping = api.stopping();
    drop(api);
    loop {
        tokio::select! {
            _ = changed.notified() => {}
            _ = stopping.wait_for(|stop| *stop) => return,
        }
        if keys.list().is_ok_and(|list| list.len() > before) {
            key_added.notify_one();
            return;
        }
    }
}

/// [`serve`], handing the running engine's [`Api`] to `on_ready` once it listens (the desktop
/// app's commands call it in-process).
pub async fn serve_with(
    paths: &Paths,
    options: DaemonOptions,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    on_ready: impl FnOnce(Api),
) -> Result<(), Error> {
    // Connections are capped well below it; everything else gets the rest. The process scans
    // (sysinfo) would otherwise keep a `/proc` file open per process, up to half the limit.
    let open_files = listener::raise_open_files_limit();
    sysinfo::set_open_files_limit(0);
    let keys = Keys::from_paths(paths);
    let config = keys.config().load()?;
    let listen = options.listen.unwrap_or(config.proxy.listen);
    check_listen(listen, options.allow_remote)?;
    let hosts = HostMap::from_env().map_err(Error::Environment)?;
    // The demo needs no keyring: simulated providers, and credentials that live as long as it
    // runs.
    let (demo, config, secrets, credentials) = if options.demo {
        let demo = demo::start()
            .await
            .map_err(|e| Error::Environment(format!("cannot start the demo: {e}")))?;
        let (config, secrets) = (demo.config.clone(), demo.secrets.clone());
        let credentials =
            Credentials::in_memory(&[(DEFAULT_TOOL, generate_token())], generate_admin());
        (Some(demo), config, secrets, credentials)
    } else {
        // A keyring that is locked or not running yet is waited for, not fatal (see
        // `follow_config` and `Credentials::follow`).
        let vault = Vault::from_env();
        let secrets = load_secrets_quietly(&vault, &config).await;
        let credentials = Credentials::load_or_wait(TokenStore::from_paths(paths)).await?;
        (None, config, secrets, credentials)
    };
    let listener = tokio::net::TcpListener::bind(listen).await.map_err(|e| {
        Error::Environment(format!(
            "cannot listen on {listen}: {e}. Is another Redline (daemon or desktop app) running? \
             Stop it, or choose another port with `redline config set proxy.listen 127.0.0.1:PORT` \
             (`redline daemon --listen 127.0.0.1:PORT` for one run)"
        ))
    })?;
    let addr = listener
        .local_addr()
        .map_err(|e| Error::Environment(e.to_string()))?;
    let reload = match demo {
        Some(_) => None,
        None => Some((config.clone(), keys.clone(), secrets.clone())),
    };
    let history = open_history(paths, &config, options.demo);
    let state = start_with_history(
        Inputs {
            config,
            secrets,
            credentials: credentials.clone(),
            hosts,
            keys,
            allow_remote: options.allow_remote,
            listen: addr,
            demo: options.demo,
            launcher: Launcher::detect(options.desktop_app),
            paths: paths.clone(),
        },
        history,
    );
    // The threads that will serve the port, there before anyone is told it is open.
    let lanes = Lanes::start();
    on_ready(state.api.clone());
    // Where this engine listens, for `redline env`, `status`, `connect`; the demo is not the
    // user's Redline, so it says nothing there.
    let _runtime_file = if options.demo {
        None
    } else {
        match super::runtime_file::publish(paths, addr) {
            Ok(published) => Some(published),
            Err(err) => {
                eprintln!(
                    "redline: cannot write {} ({err}); other redline commands will look for this Redline on proxy.listen",
                    super::runtime_file::path(paths).display()
                );
                None
            }
        }
    };
    // Running agents, Redline's footprint and, for the user's own keys, which tools hold them.
    let _surroundings = surroundings::watch(
        state.monitor.clone(),
        reload.as_ref().map(|(_, keys, _)| keys.clone()),
    );
    // The tools' config files: a connected tool that stops pointing here, an old key, a
    // refused tool token. Not in the demo, whose address and tokens are not the user's.
    let _tool_watch = match (&reload, ConnectService::new(paths.data_dir())) {
        (Some((_, keys, _)), Ok(service)) => {
            let api = state.api.clone();
            let publish = move |notice: ToolNotice| {
                eprintln!("redline: {}: {}", notice.summary, notice.body);
                api.publish_tool_notice(notice);
            };
            Some(tool_watch::watch(
                service,
                keys.clone(),
                credentials.clone(),
                crate::status::source::engine_address(addr),
                publish,
            ))
        }
        (Some(_), Err(err)) => {
            eprintln!("redline: not watching the tools' config files: {err}");
            None
        }
        (None, _) => None,
    };
    eprintln!("Redline is listening on http://{addr}");
    let _workload = match demo {
        Some(_) => {
            // The demo's credentials open only the demo, so its link may be shown and opened.
            let link = format!("http://{addr}/#token={}", credentials.admin().expose());
            eprintln!("  demo: simulated providers and agents, no key needed");
            eprintln!("  dashboard: {link}");
            if options.open_browser {
                open_in_browser(&link);
            }
            let tool = credentials
                .default_tool_token()
                .expect("the demo has a tool token");
            Some(demo::spawn_workload(
                format!("http://{addr}"),
                tool,
                options.demo_watched.clone(),
            ))
        }
        None => {
            eprintln!("  dashboard: http://{addr}/   (`redline dashboard` opens it signed in)");
            None
        }
    };
    // Tokens made, rotated or revoked with `redline token` take effect without a restart.
    let following = tokio::spawn(credentials.clone().follow());
    eprintln!(
        "  proxy:     http://{addr}/<account-id>/...   (`redline connect TOOL <account-id>` sets up a tool)"
    );
    eprintln!("  Ctrl-C stops it.");
    let _reloader = reload.map(|(config, keys, secrets)| {
        tokio::spawn(follow_config(keys, config, secrets, state.clone()))
    });
    // Bounded connections (header and keep-alive timeouts, a cap within the open-files
    // limit), each carrying its peer so the proxy can name a tool by its process.
    let connections = state.connections.clone();
    connections.fit_open_files(open_files);
    let history = state.history.clone();
    let api = state.api.clone();
    // Open event streams (a dashboard tab) would hold a graceful shutdown forever: end them.
    let shutdown = async move {
        shutdown.await;
        api.stop();
    };
    listener::serve(listener, lanes, router(state), connections, shutdown).await;
    if let Some(store) = history {
        // Commits what is queued and closes the file cleanly.
        let closing = store.clone();
        let _ = tokio::task::spawn_blocking(move || closing.close()).await;
        let stats = store.stats();
        eprintln!(
            "redline: history saved ({} rows this run, {} dropped)",
            stats.committed_rows, stats.dropped_rows
        );
    }
    following.abort();
    eprintln!("Redline stopped.");
    Ok(())
}

/// How often the daemon looks for changes made by `redline keys ...` or an editor.
const CONFIG_CHECK: Duration = Duration::from_secs(2);

/// Applies config and key changes while running, so a rotated key is used at once and tools
/// need no change; and follows provider limits for "auto" caps. A config with an error is
/// reported once and the running settings are kept.
///
/// It starts from the secrets the engine started with: reading the keyring again first would
/// leave an "auto" cap unapplied for as long as a slow keyring takes to answer.
async fn follow_config(keys: Keys, mut current: Config, mut secrets: Secrets, state: AppState) {
    let mut status = state.monitor.status();
    let api_changed = state.api.config_changed();
    // What start() applied may predate the first poll: apply again at once.
    let mut applied = HashMap::new();
    let mut reported_error = None;
    // An interval, not a sleep per turn: status changes must not postpone the config check.
    let mut check = tokio::time::interval(CONFIG_CHECK);
    check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let next = upstreams(&current, &secrets, &status.borrow_and_update());
        // Replacing upstreams restarts queues, so only do it when something changed.
        if applied.is_empty() || caps(&next) != applied {
            applied = caps(&next);
            state.proxy.set_upstreams(next);
            state
                .proxy
                .set_keyring_problem(keyring_down(&secrets).cloned());
        }
        tokio::select! {
            // A change made through the API is applied at once; the file check is the same.
            _ = next_check(&mut check, &api_changed) => {
                let loaded = keys.config().load().and_then(|config| {
                    let emptied = config.accounts.is_empty() && !current.accounts.is_empty();
                    match emptied && keys.config().is_empty_or_missing() {
                        true => Err(Error::Environment(format!(
                            "{} is empty or gone while accounts were set up ({}); put it back, \
                             or remove accounts with `redline keys remove ID`",
                            keys.config().path().display(),
                            current.accounts.keys().map(|id| id.as_str()).collect::<Vec<_>>().join(", ")
                        ))),
                        false => Ok(config),
                    }
                });
                match loaded {
                    Ok(config) if config != current => {
                        // First, so that a request sent once the reload is announced meets
                        // the new settings.
                        state.proxy.set_settings(ProxySettings::from_config(&config.proxy));
                        state.connections.set_limits(Limits::from_config(&config.proxy));
                        let fresh = load_secrets_quietly(&Vault::from_env(), &config).await;
                        secrets = keep_known(fresh, &secrets, &config);
                        state.monitor.reconfigure(config.clone(), secrets.clone());
                        if config.shared.redis_url != current.shared.redis_url {
                            share_limits(&state.proxy, config.shared.redis_url.as_ref());
                        }
                        eprintln!("redline: settings reloaded ({} accounts)", config.accounts.len());
                        let waiting = waiting_for_restart(&current, &config);
                        if let Some(note) = restart::note(&waiting, Some(&state.api.how_to_restart())) {
                            eprintln!("redline: {note}");
                        }
                        current = config;
                        applied.clear();
                    }
                    // Accounts waiting for the keyring get their keys as soon as it answers.
                    Ok(_) => if let Some(fresh) = retry_keyring(&Vault::from_env(), &current, &secrets).await {
                        keyring_changed(&state, &fresh).await;
                        secrets = fresh;
                        state.monitor.reconfigure(current.clone(), secrets.clone());
                        applied.clear();
                    },
                    Err(err) => {
                        let message = err.to_string();
                        if reported_error.as_ref() != Some(&message) {
                            eprintln!("redline: keeping the previous settings: {message}");
                            reported_error = Some(message);
                        }
                        continue;
                    }
                }
                reported_error = None;
            }
            changed = status.changed() => if changed.is_err() { return },
        }
    }
}

/// Says what the keyring's answer changed for accounts that waited for it; once it answers,
/// takes its tool tokens first, so a tool is served as soon as its account is.
async fn keyring_changed(state: &AppState, secrets: &Secrets) {
    match keyring_down(secrets) {
        None => {
            if let Err(err) = state.credentials.take_keyring_set().await {
                eprintln!("redline: cannot read the tool tokens yet: {err}");
            }
            let count = secrets.len();
            eprintln!("redline: the keyring answers: keys read for {count} accounts");
        }
        Some(down) => eprintln!(
            "redline: still waiting for the keyring: {}",
            down.waiting_message().unwrap_or_default()
        ),
    }
}

/// The settings changed from `old` to `new` that the running engine cannot take over.
fn waiting_for_restart(old: &Config, new: &Config) -> Vec<&'static str> {
    let mut keys = Vec::new();
    if old.proxy.listen != new.proxy.listen {
        keys.push("proxy.listen");
    }
    if old.history.retention_days != new.history.retention_days {
        keys.push("history.retention_days");
    }
    debug_assert!(keys.iter().all(|k| restart::needs_restart(k)));
    keys
}

/// The next config check: on the timer, or at once after a change made through the API.
async fn next_check(check: &mut tokio::time::Interval, api_changed: &tokio::sync::Notify) {
    tokio::select! {
        _ = check.tick() => {}
        _ = api_changed.notified() => {}
    }
}

/// Best effort: a desktop without a browser opener still has the link printed.
pub fn open_in_browser(link: &str) {
    let opener = if cfg!(target_os = "macos") {
        "open"
    } else if cfg!(windows) {
        "explorer"
    } else {
        "xdg-open"
    };
    let opened = std::process::Command::new(opener)
        .arg(link)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn();
    if opened.is_err() {
        eprintln!("  (could not start {opener}; open the link above yourself)");
    }
}

async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                .expect("installing a SIGTERM handler");
        tokio::select! {
            _ = interrupt => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = interrupt.await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_unless_allowed() {
        assert!(check_listen("127.0.0.1:4290".parse().unwrap(), false).is_ok());
        assert!(check_listen("[::1]:4290".parse().unwrap(), false).is_ok());
        let err = check_listen("0.0.0.0:4290".parse().unwrap(), false)
            .unwrap_err()
            .to_string();
        assert!(err.contains("--allow-remote"), "{err}");
        assert!(check_listen("0.0.0.0:4290".parse().unwrap(), true).is_ok());
    }
}
