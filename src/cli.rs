//! Argument parsing and output for the `redline` CLI. The work itself is the engine's.

use clap::{Args, Parser, Subcommand};
use jiff::Timestamp;
use redline::Error;
use redline::account_id::AccountId;
use redline::agents::Scanner;
use redline::config::{ConfigFile, validate_base_url};
use redline::engine_status::{self, Asked, Form};
use redline::fetch::{HostMap, HttpClient};
use redline::key_scan::{self, Finding, Holder};
use redline::keys::{self, KeyInfo, Keys, NewAccount, TestResult};
use redline::paths::Paths;
use redline::providers::ProviderId;
use redline::secret::{MAX_SECRET_LEN, Secret};
use redline::settings;
use redline::status::KeyUseKind;
use redline::token;
use redline::tool_env::{self, Shell};
use redline::vault::{Slot, Vault, off_runtime};
use redline::verify::{Verdict, verify};
use redline::{daemon, monitor, status};
use std::io::{IsTerminal, Read};
use std::process::ExitCode;

const ABOUT: &str = "Redline watches your LLM API keys and coding-plan quotas and turns red before \
(and the moment) you get throttled. Keys live in the OS keyring, never in a file.";

const AFTER_HELP: &str = "\
Files live under $REDLINE_HOME when it is set, otherwise in your platform's config directory
(~/.config/redline on Linux). Secrets go to the OS keyring under the service name `redline`
($REDLINE_KEYRING_SERVICE overrides it).

Examples:
  redline keys add kimi-main --provider kimi-code --label \"Kimi Code\" < key.txt
  redline keys list
  pbpaste | redline keys rotate kimi-main
  redline config set thresholds.warn 75";

#[derive(Parser, Debug)]
#[command(name = "redline", version, about = ABOUT, after_help = AFTER_HELP)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Store, list, test, rotate and remove API keys (kept in the OS keyring).
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Show or change settings (thresholds, poll interval, proxy address, per-key caps).
    #[command(subcommand)]
    Config(ConfigCommand),
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
    Status {
        /// Print the status as JSON (the same schema as GET /api/v1/status).
        #[arg(long, conflicts_with_all = ["waybar", "line"])]
        json: bool,
        /// Print one line of Waybar custom-module JSON (text, tooltip, class, percentage).
        #[arg(long, conflicts_with = "line")]
        waybar: bool,
        /// Print one short plain line for tmux, Polybar or a shell prompt, such as
        /// `WARN kimi-main 85% ▲27/30 | oai 12%`: per account the most used window (or 429
        /// while throttled) and requests in flight / limit; a WARN, CRIT or ? prefix unless all
        /// is ok.
        #[arg(long)]
        line: bool,
        /// Ask each provider now, even when Redline is running (one usage call per key; no
        /// throttles or requests in flight, which only the running proxy sees).
        #[arg(long, conflicts_with = "engine")]
        direct: bool,
        /// Only ask the running Redline: fail, rather than ask the providers, when none answers.
        #[arg(long)]
        engine: bool,
    },
    /// Run Redline without a window: poll every key, run the local proxy, and serve the
    /// dashboard and JSON API on one loopback port until Ctrl-C or SIGTERM.
    ///
    /// Tools reach a provider through http://127.0.0.1:4290/<account-id>/<provider path>,
    /// presenting the local token (`redline env <account-id>` prints the settings).
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
    /// Print the lines that point your tools at Redline's proxy for one account.
    ///
    /// Covers the OpenAI SDKs, Codex, Roo Code, Claude Code, Kimi CLI and OpenClaw. The tools
    /// get the local token; your real key stays in the keyring, so rotating it changes nothing
    /// in any tool. Use: eval "$(redline env kimi-main)".
    Env {
        id: AccountId,
        /// Syntax of the lines.
        #[arg(long, value_enum, default_value = "sh")]
        shell: Shell,
    },
    /// Print the local token that your tools present to Redline's local proxy and API.
    ///
    /// The token is made on first use (256 random bits) and kept in the OS keyring. Tools send
    /// it instead of a real API key; Redline swaps in the real key on the way out.
    Token {
        /// Replace the token with a new one; tools holding the old token stop working.
        #[arg(long)]
        reset: bool,
    },
}

#[derive(Subcommand, Debug)]
enum KeysCommand {
    /// Store a new API key. The key is read from standard input, never from an argument.
    ///
    /// Pipe the key in (`redline keys add ID --provider P < key.txt`, or from your clipboard
    /// tool), or run it in a terminal and paste at the hidden prompt.
    Add(AddArgs),
    /// List stored keys: masked fingerprint, provider, label, age and last test result.
    List {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Check a stored key with its provider: valid, rejected, wrong product or region, or
    /// unreachable; the result shows in `keys list`.
    Test {
        /// The account id, as shown by `redline keys list`.
        id: AccountId,
        /// Print JSON instead of a sentence.
        #[arg(long)]
        json: bool,
    },
    /// Replace a key with a new one read from standard input; the old key is kept for rollback.
    ///
    /// Only the latest previous key is kept: the next rotation replaces it.
    Rotate {
        id: AccountId,
        /// Store the new key without checking it with the provider.
        #[arg(long)]
        no_verify: bool,
    },
    /// Go back to the key that was in use before the last rotation (run again to undo).
    Rollback { id: AccountId },
    /// Remove an account and both of its keyring entries (current and rollback copy).
    Rm { id: AccountId },
    /// Show which tools hold each stored key, and which go through Redline.
    ///
    /// A read-only look at ~/.kimi/config.toml, ~/.openclaw/openclaw.json,
    /// ~/.claude/settings.json, ~/.claude/.credentials.json, ~/.claude.json,
    /// ~/.codex/auth.json, ~/.codex/config.toml and the key variables of this shell
    /// (ANTHROPIC_API_KEY, OPENAI_API_KEY, MOONSHOT_API_KEY, KIMI_API_KEY, ...). Keys are
    /// compared with the keyring's, never shown: a tool still holding a rotated key is named.
    Where {
        /// Only this account's users.
        id: Option<AccountId>,
        /// Print JSON instead of sentences.
        #[arg(long)]
        json: bool,
    },
    /// Store the keys found in your tools' configs (see `keys where`) in the keyring, then
    /// print how to point each tool at Redline instead.
    ///
    /// Asks before each key; in a script, pass --yes to import every key found. Keys are read
    /// from the files themselves, never passed as arguments. Each key is checked with its
    /// provider first unless --no-verify.
    Import {
        /// Import every key found without asking.
        #[arg(long)]
        yes: bool,
        /// Store the keys without checking them with the provider.
        #[arg(long)]
        no_verify: bool,
    },
}

#[derive(Args, Debug)]
struct AddArgs {
    /// Your name for this key: lowercase letters, digits and '-', e.g. kimi-main.
    id: AccountId,
    /// Which service the key is for.
    #[arg(long, value_name = "PROVIDER", value_parser = provider_id)]
    provider: ProviderId,
    /// Use another API base than the provider's default (a region host or a gateway).
    #[arg(long, value_name = "URL")]
    base_url: Option<String>,
    /// A human-readable name shown in lists, the tray and the dashboard.
    #[arg(long, value_name = "TEXT")]
    label: Option<String>,
    /// Store the key without checking it with the provider.
    #[arg(long)]
    no_verify: bool,
}

#[derive(Subcommand, Debug)]
enum ConfigCommand {
    /// Print the settings in effect (defaults included) and where the file is.
    Show,
    /// Change one setting, e.g. `redline config set thresholds.warn 75`.
    ///
    /// Keys: thresholds.warn and thresholds.critical (percent used, warn below critical),
    /// poll.interval_s (15 at the least), proxy.listen (address:port), proxy.queue_max_wait_s,
    /// proxy.retry_429 (true/false),
    /// notifications.enabled (true/false), notifications.rotation_reminder_days,
    /// history.retention_days (days of history kept, 1 to 3650),
    /// accounts.<id>.concurrency_cap (0 = no cap, a number, or auto for the provider's own
    /// limit), accounts.<id>.tier (Moonshot 0-5),
    /// accounts.<id>.label,
    /// accounts.<id>.base_url (an empty value removes a label or base URL).
    Set { key: String, value: String },
}

fn provider_id(text: &str) -> Result<ProviderId, String> {
    text.parse()
        .map_err(|e: redline::providers::UnknownProvider| e.to_string())
}

pub async fn run(cli: Cli) -> Result<ExitCode, Error> {
    let paths = Paths::from_env().map_err(Error::Environment)?;
    let keys = Keys::from_paths(&paths);
    match cli.command {
        Command::Keys(command) => run_keys(&keys, command).await,
        Command::Status {
            json,
            waybar,
            line,
            direct,
            engine,
        } => {
            let form = match (json, waybar || line) {
                (true, _) => Form::Json,
                (false, true) => Form::Bar,
                (false, false) => Form::Text,
            };
            let status = if direct {
                poll_status(&keys, form).await?
            } else {
                status_from_engine_or_providers(&keys, form, engine).await?
            };
            let now = Timestamp::now();
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&status).expect("status serialises")
                );
            } else if waybar {
                println!("{}", status::render_waybar(&status, now));
            } else if line {
                println!("{}", status::render_line(&status));
            } else {
                print!("{}", status::render_text(&status, now));
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Config(ConfigCommand::Show) => {
            let config = keys.config().load()?;
            let text = toml::to_string_pretty(&config).expect("a config always serialises");
            println!("# {}\n{text}", keys.config().path().display());
            Ok(ExitCode::SUCCESS)
        }
        Command::Config(ConfigCommand::Set { key, value }) => {
            let file = ConfigFile::new(paths.config_file());
            settings::set(&file, &key, &value)?;
            println!("Saved {key} = {value} in {}", file.path().display());
            Ok(ExitCode::SUCCESS)
        }
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
            };
            daemon::run(&paths, options).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Env { id, shell } => {
            let config = keys.config().load()?;
            let account = config.account(&id)?;
            let vault = Vault::from_env();
            let token = off_runtime(move || token::local_token(&vault)).await?;
            print!(
                "{}",
                tool_env::render(
                    id.as_str(),
                    account.provider,
                    config.proxy.listen,
                    token.expose(),
                    shell
                )
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Token { reset } => {
            let vault = Vault::from_env();
            let token = off_runtime(move || {
                if reset {
                    token::reset_local_token(&vault)
                } else {
                    token::local_token(&vault)
                }
            })
            .await?;
            println!("{}", token.expose());
            Ok(ExitCode::SUCCESS)
        }
    }
}

async fn run_keys(keys: &Keys, command: KeysCommand) -> Result<ExitCode, Error> {
    match command {
        KeysCommand::Add(args) => {
            // Fail on a bad config, a taken id or a bad URL before asking for the secret.
            if keys.config().load()?.accounts.contains_key(&args.id) {
                return Err(Error::DuplicateAccount(args.id.to_string()));
            }
            if let Some(url) = &args.base_url {
                validate_base_url(url).map_err(Error::InvalidBaseUrl)?;
            }
            let secret = read_secret(&format!("API key for {} ({})", args.id, args.provider))?;
            let (check, checked) = maybe_check(
                args.no_verify,
                args.provider,
                args.base_url.as_deref(),
                &secret,
            )
            .await?;
            let new = NewAccount {
                id: args.id,
                provider: args.provider,
                base_url: args.base_url,
                label: args.label,
                check,
            };
            let info = keys.add(new, secret).await?;
            println!(
                "Stored {} ({}, key {}) in the OS keyring.{checked}",
                info.id,
                info.provider,
                info.fingerprint.as_deref().unwrap_or("?")
            );
            Ok(ExitCode::SUCCESS)
        }
        KeysCommand::List { json } => {
            let list = keys.list()?;
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&list).expect("key info serialises")
                );
            } else {
                print_key_table(&list, Timestamp::now());
            }
            Ok(ExitCode::SUCCESS)
        }
        KeysCommand::Test { id, json } => {
            let result = keys.test(id.clone(), &http_client()?).await?;
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&result).expect("test result serialises")
                );
            } else {
                let verdict = if result.ok { "ok" } else { "FAILED" };
                println!("{id}: {verdict}: {}", result.message);
            }
            Ok(if result.ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        KeysCommand::Rotate { id, no_verify } => {
            let account = keys.config().load()?.account(&id)?.clone();
            let secret = read_secret(&format!("New API key for {id}"))?;
            let (check, checked) = maybe_check(
                no_verify,
                account.provider,
                account.base_url.as_deref(),
                &secret,
            )
            .await?;
            let info = keys.rotate(id.clone(), secret, check).await?;
            println!(
                "Rotated {}: now using {}; the previous key {} is kept for `redline keys rollback {}`.{checked}",
                info.id,
                info.fingerprint.as_deref().unwrap_or("?"),
                info.previous_fingerprint.as_deref().unwrap_or("(none)"),
                info.id
            );
            // Best effort: the rotation is done whatever the scan finds.
            if let Ok(report) = scan_keys(keys).await {
                let stale: Vec<String> = report
                    .used_by
                    .get(id.as_str())
                    .into_iter()
                    .flatten()
                    .filter(|u| u.key == KeyUseKind::Previous)
                    .map(|u| format!("{} ({})", u.tool, u.source))
                    .collect();
                if !stale.is_empty() {
                    println!(
                        "Still holding the old key: {}. Give them the new key, or point them at Redline so the next rotation needs no change: `redline env {id}`.",
                        stale.join(", ")
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        KeysCommand::Rollback { id } => {
            let info = keys.rollback(id).await?;
            println!(
                "Rolled {} back to {}; {} is kept, so a second rollback undoes this one.",
                info.id,
                info.fingerprint.as_deref().unwrap_or("?"),
                info.previous_fingerprint.as_deref().unwrap_or("?")
            );
            Ok(ExitCode::SUCCESS)
        }
        KeysCommand::Rm { id } => {
            keys.remove(id.clone()).await?;
            println!("Removed {id} and its keys from the OS keyring.");
            Ok(ExitCode::SUCCESS)
        }
        KeysCommand::Where { id, json } => {
            if let Some(id) = &id {
                keys.config().load()?.account(id)?;
            }
            let report = scan_keys(keys).await?;
            let shown: Vec<&Finding> = report
                .findings
                .iter()
                .filter(|f| match (&id, &f.holder) {
                    (None, _) => true,
                    (Some(id), Holder::Account { id: owner, .. }) => owner == id.as_str(),
                    (Some(id), Holder::LocalToken { account }) => {
                        account.as_deref() == Some(id.as_str())
                    }
                    (Some(_), Holder::Unknown { .. }) => false,
                })
                .collect();
            if json {
                let out = serde_json::json!({"findings": shown, "warnings": report.warnings});
                println!(
                    "{}",
                    serde_json::to_string_pretty(&out).expect("findings serialise")
                );
            } else {
                for warning in &report.warnings {
                    eprintln!("warning: {warning}");
                }
                let now = Timestamp::now();
                for finding in &shown {
                    println!("{}", key_scan::describe(finding, &report.stored, now));
                }
                if shown.is_empty() {
                    let whose = id
                        .as_ref()
                        .map(|id| format!("{id}'s keys"))
                        .unwrap_or_else(|| "any key".into());
                    println!(
                        "No known tool config or key variable holds {whose} (see `redline keys where --help` for the places looked at)."
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        KeysCommand::Import { yes, no_verify } => import_keys(keys, yes, no_verify).await,
    }
}

/// The running engine's status, or (unless `engine_only`) the providers' answers when no
/// engine gives one.
async fn status_from_engine_or_providers(
    keys: &Keys,
    form: Form,
    engine_only: bool,
) -> Result<status::Status, Error> {
    let config = keys.config().load()?;
    let address = engine_status::engine_address(config.proxy.listen);
    let vault = Vault::from_env();
    let asked = if !engine_status::is_listening(address).await {
        Asked::NotRunning
    } else {
        // A missing token means no Redline of this install has run, so none can be asked.
        match off_runtime(move || vault.get(&Slot::LocalToken)).await {
            Ok(Some(token)) => engine_status::ask(address, token).await,
            Ok(None) => Asked::NotRunning,
            Err(err) => Asked::Failed(format!("cannot read the local token: {err}")),
        }
    };
    if let Asked::Answered(status) = asked {
        return Ok(*status);
    }
    if engine_only {
        return Err(Error::Environment(engine_status::engine_required(
            &asked, address,
        )));
    }
    if let Some(note) = engine_status::fallback_note(&asked, address, form) {
        eprintln!("redline: {note}");
    }
    poll_status(keys, form).await
}

/// Every provider asked now, as the engine would; the text and JSON forms add the agents and
/// key uses found on this machine.
async fn poll_status(keys: &Keys, form: Form) -> Result<status::Status, Error> {
    let config = keys.config().load()?;
    let mut status = monitor::status_once(&config, &Vault::from_env(), &http_client()?).await;
    // The bar formats show neither, so they skip the scans.
    if form != Form::Bar {
        status.agents = off_runtime(|| Scanner::new().agents()).await;
        if let Ok(report) = scan_keys(keys).await {
            status::attach_key_uses(&mut status, &report.used_by);
        }
    }
    Ok(status)
}

/// Where the stored keys are used, from the tool configs under $HOME and this process's
/// environment. Never makes a local token.
async fn scan_keys(keys: &Keys) -> Result<key_scan::Report, Error> {
    let config = keys.config().load()?;
    let home = key_scan::home_dir()
        .ok_or_else(|| Error::Environment("cannot find your home directory: set HOME".into()))?;
    let vault = Vault::from_env();
    let report = off_runtime(move || {
        let token = vault.get(&Slot::LocalToken)?;
        key_scan::where_used(
            &home,
            &|name| std::env::var(name).ok(),
            &vault,
            &config,
            token.as_ref(),
        )
    })
    .await?;
    Ok(report)
}

/// `keys import`: offers each key found that Redline does not store yet.
async fn import_keys(keys: &Keys, yes: bool, no_verify: bool) -> Result<ExitCode, Error> {
    let report = scan_keys(keys).await?;
    for warning in &report.warnings {
        eprintln!("warning: {warning}");
    }
    // One offer per distinct key, with every place it was found.
    let mut offers: Vec<(&key_scan::Found, Vec<&key_scan::Found>)> = Vec::new();
    for (found, finding) in report.found.iter().zip(&report.findings) {
        if !matches!(finding.holder, Holder::Unknown { .. }) {
            continue;
        }
        match offers
            .iter_mut()
            .find(|(first, _)| first.secret == found.secret)
        {
            Some((_, places)) => places.push(found),
            None => offers.push((found, vec![found])),
        }
    }
    if offers.is_empty() {
        println!(
            "Nothing to import: no tool config or key variable holds a key Redline does not store (`redline keys where` shows what was found)."
        );
        return Ok(ExitCode::SUCCESS);
    }
    let interactive = std::io::stdin().is_terminal();
    if !yes && !interactive {
        for (found, places) in &offers {
            println!(
                "Found {} in {}",
                found.secret.fingerprint(),
                places_text(places)
            );
        }
        return Err(Error::Environment(
            "keys import asks before storing each key: run it in a terminal, or pass --yes to import every key listed above".into(),
        ));
    }
    let mut taken: Vec<String> = keys
        .config()
        .load()?
        .accounts
        .keys()
        .map(|id| id.to_string())
        .collect();
    let mut failed = false;
    for (found, places) in offers {
        let fingerprint = found.secret.fingerprint();
        let Some(provider) = found.provider else {
            println!(
                "Skipped {fingerprint} from {}: cannot tell which provider it is for. Add it yourself: redline keys add ID --provider PROVIDER < key.txt",
                places_text(&places)
            );
            continue;
        };
        let id = import_id(found.tool, provider, &taken);
        if !yes {
            let question = format!(
                "Import {fingerprint} ({}) from {} as {id}? [y/N] ",
                provider.display_name(),
                places_text(&places)
            );
            if !confirm(&question)? {
                continue;
            }
        }
        let checked = match maybe_check(no_verify, provider, None, &found.secret).await {
            Ok(checked) => checked,
            Err(err) => {
                println!("Not imported {fingerprint}: {err}");
                failed = true;
                continue;
            }
        };
        let new = NewAccount {
            id: id.parse().expect("import ids are valid account ids"),
            provider,
            base_url: None,
            label: Some(format!("from {}", found.tool)),
            check: checked.0,
        };
        let info = keys.add(new, found.secret.clone()).await?;
        taken.push(id.clone());
        println!(
            "Stored {id} ({provider}, key {}) in the OS keyring.{}",
            info.fingerprint.as_deref().unwrap_or("?"),
            checked.1
        );
        for place in &places {
            let cleanup = if place.source.starts_with('$') {
                format!("then stop setting {} in your shell profile", place.source)
            } else {
                format!("then remove the key from {}", place.source)
            };
            println!(
                "  Point {} at Redline instead: `redline env {id}` prints the lines for it; {cleanup}.",
                place.tool
            );
        }
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

fn places_text(places: &[&key_scan::Found]) -> String {
    places
        .iter()
        .map(|p| format!("{} ({})", p.tool, p.source))
        .collect::<Vec<_>>()
        .join(", ")
}

/// An unused account id for an imported key: `kimi-cli`, `openclaw`, `env-openai`, then with
/// the provider, then numbered.
fn import_id(tool: &str, provider: ProviderId, taken: &[String]) -> String {
    let base = match tool {
        "Shell" => format!("env-{provider}"),
        other => other.to_lowercase().replace(' ', "-"),
    };
    let free = |id: &String| !taken.contains(id) && id.parse::<AccountId>().is_ok();
    [base.clone(), format!("{base}-{provider}")]
        .into_iter()
        .chain((2..).map(|n| format!("{base}-{n}")))
        .find(free)
        .expect("some numbered id is free")
}

/// Asks a yes/no question on the terminal; anything but y or yes is no.
fn confirm(question: &str) -> Result<bool, Error> {
    use std::io::Write;
    print!("{question}");
    std::io::stdout()
        .flush()
        .map_err(|e| Error::Environment(format!("cannot write to the terminal: {e}")))?;
    let mut answer = String::new();
    std::io::stdin()
        .read_line(&mut answer)
        .map_err(|e| Error::Environment(format!("cannot read your answer: {e}")))?;
    Ok(matches!(answer.trim().to_lowercase().as_str(), "y" | "yes"))
}

fn http_client() -> Result<HttpClient, Error> {
    Ok(HttpClient::new(
        HostMap::from_env().map_err(Error::Environment)?,
    ))
}

/// Checks a key with its provider before it is stored: the result to record and words for
/// the success line, or why the key is refused.
async fn check_key(
    provider: ProviderId,
    base_url: Option<&str>,
    secret: &Secret,
) -> Result<(TestResult, String), Error> {
    if std::io::stderr().is_terminal() {
        eprintln!("Checking the key with {}…", provider.display_name());
    }
    let verdict = verify(&http_client()?, provider, base_url, secret).await;
    let Verdict::Valid(snapshot) = &verdict else {
        return Err(Error::KeyCheckFailed(verdict.message()));
    };
    let plan = snapshot
        .plan
        .as_ref()
        .map(|p| format!(", plan {p}"))
        .unwrap_or_default();
    let result = TestResult {
        ok: true,
        message: verdict.message(),
        at: keys::now(),
    };
    Ok((
        result,
        format!(" {} accepted it{plan}.", provider.display_name()),
    ))
}

/// Checks the key unless `--no-verify` was given.
async fn maybe_check(
    no_verify: bool,
    provider: ProviderId,
    base_url: Option<&str>,
    secret: &Secret,
) -> Result<(Option<TestResult>, String), Error> {
    if no_verify {
        return Ok((
            None,
            " Not checked with the provider (--no-verify).".to_owned(),
        ));
    }
    let (result, words) = check_key(provider, base_url, secret).await?;
    Ok((Some(result), words))
}

/// Reads one secret: hidden prompt on a terminal, otherwise all of standard input.
fn read_secret(prompt: &str) -> Result<Secret, Error> {
    let stdin = std::io::stdin();
    let mut text = if stdin.is_terminal() {
        rpassword::prompt_password(format!("{prompt} (input hidden): ")).map_err(|e| {
            Error::Environment(format!("cannot read the key from the terminal: {e}"))
        })?
    } else {
        let mut bytes = Vec::new();
        stdin
            .lock()
            .take(MAX_SECRET_LEN as u64 + 2)
            .read_to_end(&mut bytes)
            .map_err(|e| {
                Error::Environment(format!("cannot read the key from standard input: {e}"))
            })?;
        String::from_utf8(bytes).map_err(|_| {
            Error::Environment("standard input is not text: pipe the API key itself".into())
        })?
    };
    let secret = Secret::parse(&text);
    zeroize::Zeroize::zeroize(&mut text);
    Ok(secret?)
}

fn print_key_table(list: &[KeyInfo], now: Timestamp) {
    if list.is_empty() {
        println!("No keys yet. Add one with: redline keys add ID --provider PROVIDER < key.txt");
        println!("Providers: {}", ProviderId::list());
        return;
    }
    let rows: Vec<[String; 6]> = list
        .iter()
        .map(|k| {
            [
                k.id.clone(),
                k.provider.to_string(),
                k.label.clone().unwrap_or_default(),
                k.fingerprint.clone().unwrap_or_else(|| "?".into()),
                k.age_days
                    .map(|d| format!("{d}d"))
                    .unwrap_or_else(|| "?".into()),
                describe_test(k.last_test.as_ref(), now),
            ]
        })
        .collect();
    let header = ["ID", "PROVIDER", "LABEL", "KEY", "AGE", "LAST TEST"].map(String::from);
    let widths: Vec<usize> = (0..6)
        .map(|i| {
            rows.iter()
                .chain([&header])
                .map(|r| r[i].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    for row in [&header].into_iter().chain(&rows) {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(cell, w)| format!("{cell:<w$}"))
            .collect();
        println!("{}", cells.join("  ").trim_end());
    }
}

fn describe_test(test: Option<&TestResult>, now: Timestamp) -> String {
    let Some(test) = test else {
        return "never".into();
    };
    let minutes = now.duration_since(test.at).as_secs().max(0) / 60;
    let ago = match minutes {
        0 => "just now".to_owned(),
        m if m < 60 => format!("{m}m ago"),
        m if m < 48 * 60 => format!("{}h ago", m / 60),
        m => format!("{}d ago", m / (24 * 60)),
    };
    if test.ok {
        format!("ok, {ago}")
    } else {
        format!("failed, {ago}: {}", test.message)
    }
}
