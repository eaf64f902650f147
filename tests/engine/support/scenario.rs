//! The set-ups many tests start from, each in one call.

use super::{Daemon, Sandbox, fake};
use redline::config::Config;
use redline::config::paths::Paths;
use redline::config::restart::Launcher;
use redline::fakes::FakeProvider;
use redline::history::store::Store;
use redline::keys::Keys;
use redline::keys::credentials::Credentials;
use redline::keys::secret::Secret;
use redline::keys::token::{DEFAULT_TOOL, generate_admin, generate_token};
use redline::lanes::Lanes;
use redline::poll::fetch::HostMap;
use redline::providers::ProviderId;
use redline::serve::daemon::{Inputs, start_with_history};
use redline::serve::listener;
use redline::serve::router::router;

/// A sandbox with one Kimi Code account, `kimi-main`, on a fake Kimi that accepts `key`: the
/// key stored with Redline (and checked with the fake), the sandbox's default tool token and
/// its admin credential.
pub struct KimiAccount {
    pub sandbox: Sandbox,
    /// The fake Kimi Code that the account's base URL points at.
    pub provider: FakeProvider,
    /// For the proxy.
    pub token: String,
    /// For the API, /metrics and the dashboard.
    pub admin: String,
}

impl KimiAccount {
    pub fn new(key: &str) -> KimiAccount {
        let sandbox = Sandbox::new();
        let provider = fake(ProviderId::KimiCode, key);
        sandbox.add_key("kimi-main", "kimi-code", &provider.origin(), key);
        let token = sandbox.token();
        let admin = sandbox.admin_token();
        KimiAccount {
            sandbox,
            provider,
            token,
            admin,
        }
    }

    /// The account, and a `redline daemon` serving it on a free loopback port.
    pub fn with_daemon(key: &str) -> (KimiAccount, Daemon) {
        let account = KimiAccount::new(key);
        let daemon = Daemon::start(&account.sandbox);
        (account, daemon)
    }
}

/// A config with these accounts: (id, provider, base URL).
pub fn accounts_config(accounts: &[(&str, ProviderId, &str)]) -> Config {
    let mut text = String::new();
    for (id, provider, origin) in accounts {
        text.push_str(&format!(
            "[accounts.{id}]\nprovider = \"{provider}\"\nbase_url = \"{origin}\"\n\n"
        ));
    }
    Config::parse(&text).unwrap()
}

/// Redline's engine and its port in this process, as the daemon runs them, without a keyring:
/// the accounts' keys are handed in.
pub struct InProcessEngine {
    /// `http://127.0.0.1:PORT`, where it listens.
    pub origin: String,
    /// The default tool token, for the proxy.
    pub token: Secret,
    /// The admin credential, for the API and /metrics.
    pub admin: Secret,
    /// Its `REDLINE_HOME`.
    _home: tempfile::TempDir,
}

impl InProcessEngine {
    /// Starts the engine on the current tokio runtime for `accounts`, (id, provider, base URL,
    /// key) each, recording into a history database under its home when `history` is set.
    pub async fn start(accounts: &[(&str, ProviderId, &str, &str)], history: bool) -> Self {
        let home = tempfile::tempdir().unwrap();
        let ids: Vec<_> = accounts
            .iter()
            .map(|&(id, provider, origin, _)| (id, provider, origin))
            .collect();
        let secrets = accounts
            .iter()
            .map(|(id, _, _, key)| (id.parse().unwrap(), Ok(Secret::parse(key).unwrap())))
            .collect();
        let history =
            history.then(|| Store::open(&home.path().join("history.sqlite3"), 30).unwrap());
        let (token, admin) = (generate_token(), generate_admin());
        let credentials = Credentials::in_memory(&[(DEFAULT_TOOL, token.clone())], admin.clone());
        let socket = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let listen = socket.local_addr().unwrap();
        let state = start_with_history(
            Inputs {
                config: accounts_config(&ids),
                secrets,
                credentials,
                hosts: HostMap::default(),
                keys: Keys::from_paths(&Paths::under(home.path())),
                allow_remote: false,
                listen,
                demo: false,
                launcher: Launcher::Terminal,
                paths: Paths::under(home.path()),
            },
            history,
        );
        // The daemon's own accept loop, with its bounds, as `redline daemon` serves.
        let connections = state.connections.clone();
        tokio::spawn(listener::serve(
            socket,
            Lanes::start(),
            router(state),
            connections,
            std::future::pending(),
        ));
        InProcessEngine {
            origin: format!("http://{listen}"),
            token,
            admin,
            _home: home,
        }
    }

    /// Where it records its history, when started with `history`.
    pub fn history_path(&self) -> std::path::PathBuf {
        self._home.path().join("history.sqlite3")
    }
}
