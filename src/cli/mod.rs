//! The `redline` command line: argument parsing and output; the work itself is the engine's.
//! One module per command group: `keys`, `status`, `config` and `token` (with `dashboard`);
//! the setup commands (daemon, demo, env) are small enough to live here.

mod config;
mod connect;
mod env;
mod keys;
mod providers;
mod status;
mod token;

use clap::{Parser, Subcommand};
use redline::Error;
use redline::config::paths::Paths;
use redline::keys::Keys;
use redline::keys::vault::{Vault, off_runtime};
use redline::poll::fetch::{HostMap, HttpClient};
use redline::providers::ProviderId;
use redline::serve::daemon;
use redline::tools::key_scan;

use std::process::ExitCode;

/// `redline --version`: the workspace's version and the commit it was built from (build.rs).
const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("REDLINE_GIT_COMMIT"),
    ")"
);

const ABOUT: &str = "Redline watches your LLM API keys and coding-plan quotas and turns red before \
(and the moment) you get throttled. Keys live in the OS keyring, never in a file.";

const AFTER_HELP: &str = "\
Files live under $REDLINE_HOME when it is set, otherwise in your platform's config directory
(~/.config/redline on Linux). Secrets go to the OS keyring under the service name `redline`
($REDLINE_KEYRING_SERVICE overrides it).

Examples:
  redline keys add kimi-main --provider kimi-code --label \"Kimi Code\" < key.txt
  redline keys list
  redline connect openclaw kimi-main --dry-run
  pbpaste | redline keys rotate kimi-main
  redline config set thresholds.warn 75";

#[derive(Parser, Debug)]
#[command(name = "redline", version = VERSION, about = ABOUT, after_help = AFTER_HELP)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

impl Cli {
    /// Whether the command runs a server (the daemon, the demo), which must outlive any pipe
    /// it writes to rather than end with it.
    pub fn serves(&self) -> bool {
        matches!(self.command, Command::Daemon { .. } | Command::Demo)
    }
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Store, list, test, rotate and remove API keys (kept in the OS keyring).
    #[command(subcommand)]
    Keys(keys::KeysCommand),
    /// Show or change settings (thresholds, poll interval, proxy address, per-key caps).
    #[command(subcommand)]
    Config(config::ConfigCommand),
    /// Show each key's quota windows, concurrency, throttles and health.
    ///
    /// When Redline is running (`redline daemon` or the desktop app, on proxy.listen), its
    /// status is shown: with the throttles your tools met through its proxy and the requests
    /// in flight, and without calling any provider. Otherwise each provider is asked now (one
    /// usage call per key), which cannot know about throttles tools met; the plain form then
    /// says so on stderr, the --line and --waybar forms stay quiet.
    ///
    /// Levels: ok (green), warn (amber: a window at the warn threshold or a recent throttle),
    /// critical (red: a window at the critical threshold or used up, throttling now, or a key
    /// rejected), unknown (grey: no data or the provider cannot be reached).
    Status(status::StatusArgs),
    /// Run Redline without a window: poll every key, run the local proxy, and serve the
    /// dashboard and JSON API on one loopback port until Ctrl-C or SIGTERM.
    ///
    /// Tools reach a provider through http://127.0.0.1:4290/<account-id>/<provider path>,
    /// presenting their tool token (`redline connect TOOL <account-id>` sets a tool up). It
    /// writes where it listens to a runtime file (never a token), so the other commands find
    /// it even on a --listen address.
    Daemon {
        /// Address to listen on (default: proxy.listen from the config, 127.0.0.1:4290).
        #[arg(long, value_name = "ADDR")]
        listen: Option<std::net::SocketAddr>,
        /// Allow a non-loopback address: anyone who can reach it can use your quota.
        #[arg(long)]
        allow_remote: bool,
        /// Run the built-in demo (simulated providers and agents; no key needed) instead of
        /// your accounts.
        #[arg(long)]
        demo: bool,
    },
    /// Run the built-in demo: `redline daemon --demo` on a free port, opened in your browser.
    ///
    /// Simulated coding agents send real requests through the real proxy to simulated
    /// providers, so you see the status go green, amber and red, with the reasons.
    Demo,
    /// Print what each tool needs to go through Redline for one account.
    ///
    /// With --tool, exactly what that tool needs, with the model ids and the tool's own token:
    /// the content of its config file for claude-code, codex, openclaw, kimi, opencode and
    /// aider (`redline connect TOOL ACCOUNT` writes it into the file for you and keeps the
    /// rest), or the variables for openai-sdk and anthropic-sdk (eval "$(redline env kimi-main
    /// --tool openai-sdk)"). Without --tool, one labelled block per tool, commented out. Your
    /// real key stays in the keyring, so rotating it changes nothing in any tool.
    Env(env::EnvArgs),
    /// Point a tool at Redline for one account, by editing the tool's own config file.
    ///
    /// Tools: claude-code (~/.claude/settings.json, its env block), codex
    /// (~/.codex/config.toml, a model provider), openclaw (~/.openclaw/openclaw.json, a
    /// provider with its models and the default model), kimi (the Kimi Code CLI's
    /// ~/.kimi/config.toml), opencode (~/.config/opencode/opencode.json) and aider
    /// (~/.aider.conf.yml). The tool gets Redline's route for the account in the API style it
    /// speaks best that the provider offers, the provider's model ids, and its own tool token
    /// (`redline token --tool TOOL`), never your real key.
    ///
    /// The change is shown first (the token masked). Everything else in the file stays as it
    /// was, comments and layout included; a file that does not parse is refused with its line
    /// and column and left untouched. The previous file is kept in Redline's data directory
    /// (the first one, across reconnects) for `redline disconnect`. Then the file is read back
    /// and one tiny real request is sent through the running Redline the way the tool will,
    /// to prove it works.
    ///
    /// Example: redline connect openclaw kimi-main --dry-run
    Connect(connect::ConnectArgs),
    /// Take Redline back out of a tool's config file.
    ///
    /// A file unchanged since `redline connect` gets its previous bytes back exactly (or is
    /// removed, if Redline created it). A file you edited since loses only what Redline added;
    /// your edits stay.
    Disconnect(connect::DisconnectArgs),
    /// List the tools Redline can connect: whether each is installed, its config file, and
    /// where it points.
    ///
    /// States: not configured; direct to the provider with the current key of an account;
    /// direct with an old key (one a rotation replaced: the tool will fail or use the wrong
    /// key); through Redline on an account, with which tool token; or at a Redline address
    /// that is not the one running (connect again).
    Tools(connect::ToolsArgs),
    /// List the providers Redline knows and what it can show for each: quota windows from a
    /// usage endpoint, a balance, or rate limits from the headers of answers through its proxy.
    Providers(providers::ProvidersArgs),
    /// Print a tool token that your tools present to Redline's proxy, or the admin credential.
    ///
    /// A tool token (256 random bits, made on first use and kept in the OS keyring) opens the
    /// proxy routes and nothing else: tools send it instead of a real API key, and Redline
    /// swaps in the real key on the way out. Give each tool its own with --tool NAME, so that
    /// replacing or revoking one leaves the others working; plain `redline token` prints the
    /// default one. A running Redline picks up every change within two seconds.
    ///
    /// The admin credential (--admin) opens the dashboard, the JSON API and /metrics: keep it
    /// out of tools' files. `redline dashboard` opens the dashboard without showing it.
    Token(token::TokenArgs),
    /// Open the dashboard of the running Redline in your browser, signed in.
    ///
    /// The link holds a one-time code (usable once, for two minutes), never the admin
    /// credential.
    Dashboard(token::DashboardArgs),
}

fn provider_id(text: &str) -> Result<ProviderId, String> {
    text.parse()
        .map_err(|e: redline::providers::UnknownProvider| e.to_string())
}

pub async fn run(cli: Cli) -> Result<ExitCode, Error> {
    let paths = Paths::from_env().map_err(Error::Environment)?;
    let keys = Keys::from_paths(&paths);
    match cli.command {
        Command::Keys(command) => keys::run(&keys, command).await,
        Command::Status(args) => status::run(&paths, &keys, args).await,
        Command::Config(command) => config::run(&paths, &keys, command).await,
        Command::Daemon {
            listen,
            allow_remote,
            demo,
        } => {
            let options = daemon::DaemonOptions {
                listen,
                allow_remote,
                demo,
                open_browser: false,
                desktop_app: false,
                demo_watched: None,
            };
            daemon::run(&paths, options).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Demo => {
            // A free port, so the demo never collides with a running daemon or app.
            let listen = Some(std::net::SocketAddr::from(([127, 0, 0, 1], 0)));
            let options = daemon::DaemonOptions {
                listen,
                allow_remote: false,
                demo: true,
                open_browser: true,
                desktop_app: false,
                demo_watched: None,
            };
            daemon::run(&paths, options).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Env(args) => env::run(&paths, &keys, args).await,
        Command::Connect(args) => connect::connect(&paths, &keys, args).await,
        Command::Disconnect(args) => connect::disconnect(&paths, args).await,
        Command::Tools(args) => connect::tools(&paths, &keys, args).await,
        Command::Providers(args) => Ok(providers::run(args)),
        Command::Token(args) => token::run(&paths, args).await,
        Command::Dashboard(args) => token::dashboard(&paths, &keys, args).await,
    }
}
/// Where the stored keys are used, from the tool configs under $HOME and this process's
/// environment. Never makes a local token.
async fn scan_keys(keys: &Keys) -> Result<key_scan::Report, Error> {
    let config = keys.config().load()?;
    let home = key_scan::home_dir()
        .ok_or_else(|| Error::Environment("cannot find your home directory: set HOME".into()))?;
    let vault = Vault::from_env();
    let report = off_runtime(move || {
        let tokens = redline::keys::token::all_tool_tokens(&vault)?;
        Ok::<_, Error>(key_scan::where_used(
            &home,
            &|name| std::env::var(name).ok(),
            &vault,
            &config,
            &tokens,
        )?)
    })
    .await?;
    Ok(report)
}

fn http_client() -> Result<HttpClient, Error> {
    Ok(HttpClient::new(
        HostMap::from_env().map_err(Error::Environment)?,
    ))
}
