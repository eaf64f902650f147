//! `redline config`: show the settings in effect, change one.

use clap::Subcommand;
use redline::Error;
use redline::config::ConfigFile;
use redline::config::paths::Paths;
use redline::config::restart;
use redline::config::settings;
use redline::keys::Keys;
use redline::keys::vault::{Slot, Vault, off_runtime};
use redline::serve::api_client::{ApiClient, Call, Method};
use redline::serve::runtime_file;
use redline::status::source;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

#[derive(Subcommand, Debug)]
pub(super) enum ConfigCommand {
    /// Print the settings in effect (defaults included) and where the file is.
    Show,
    /// Change one setting, e.g. `redline config set thresholds.warn 75`.
    ///
    /// Keys: thresholds.warn and thresholds.critical (percent used, warn below critical),
    /// poll.interval_s (15 at the least), proxy.listen (address:port; used when Redline
    /// restarts), proxy.queue_max_wait_s, proxy.queue_max_len, proxy.retry_429 (true/false),
    /// proxy.connect_timeout_s, proxy.first_byte_timeout_s, proxy.idle_timeout_s,
    /// proxy.header_timeout_s, proxy.keep_alive_s, proxy.max_connections,
    /// notifications.enabled (true/false), notifications.rotation_reminder_days,
    /// history.retention_days (days of history kept, 1 to 3650; used when Redline restarts),
    /// accounts.<id>.concurrency_cap (0 = no cap, a number, or auto for the provider's own
    /// limit), accounts.<id>.tier (Moonshot 0-5),
    /// accounts.<id>.label,
    /// accounts.<id>.base_url (an empty value removes a label or base URL; other machines
    /// need https, and a host the provider does not own needs --confirm-host).
    ///
    /// A running Redline (daemon or desktop app) applies every other change within seconds.
    Set {
        key: String,
        value: String,
        /// Let accounts.<id>.base_url send the key to this host although the provider does not
        /// own it (a gateway you trust).
        #[arg(long, value_name = "HOST")]
        confirm_host: Option<String>,
    },
    /// Store a secret setting in the OS keyring, never in the config file: typed at a hidden
    /// prompt, or piped on stdin (never an argument, which other users can see).
    ///
    /// Keys: shared.redis_password (the password of the server in shared.redis_url, used
    /// when the URL holds none; a password in the URL wins). A running Redline that cannot log
    /// in uses it at its next attempt, within seconds.
    ///
    /// Example: redline config set-secret shared.redis_password < redis-password.txt
    SetSecret { key: String },
    /// Remove a secret setting from the OS keyring (see set-secret).
    RmSecret { key: String },
}

/// The secret settings `set-secret` knows, and their keyring entries.
const SECRET_KEYS: &[(&str, Slot)] = &[("shared.redis_password", Slot::SharedRedisPassword)];

fn secret_slot(key: &str) -> Result<Slot, Error> {
    SECRET_KEYS
        .iter()
        .find(|(name, _)| *name == key)
        .map(|(_, slot)| slot.clone())
        .ok_or_else(|| {
            let known: Vec<&str> = SECRET_KEYS.iter().map(|(name, _)| *name).collect();
            Error::UnknownSetting {
                key: key.to_owned(),
                valid: format!("{} (secret settings)", known.join(", ")),
            }
        })
}

pub(super) async fn run(
    paths: &Paths,
    keys: &Keys,
    command: ConfigCommand,
) -> Result<ExitCode, Error> {
    match command {
        ConfigCommand::Show => {
            let config = keys.config().load()?;
            let text = toml::to_string_pretty(&config).expect("a config always serialises");
            println!("# {}\n{text}", keys.config().path().display());
            Ok(ExitCode::SUCCESS)
        }
        ConfigCommand::Set {
            key,
            value,
            confirm_host,
        } => {
            let file = ConfigFile::new(paths.config_file());
            // Where a running Redline listens now, to ask it how to restart it.
            let listening = file.load().map(|c| c.proxy.listen);
            settings::set_many_confirmed(&file, &[(&key, &value)], confirm_host.as_deref())?;
            println!("Saved {key} = {value} in {}.", file.path().display());
            if restart::needs_restart(&key) {
                let how = match listening {
                    Ok(listen) => {
                        how_to_restart(runtime_file::engine_address(paths, listen).await).await
                    }
                    Err(_) => None,
                };
                if let Some(note) = restart::note(&[&key], how.as_deref()) {
                    println!("{note}");
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        ConfigCommand::SetSecret { key } => {
            let slot = secret_slot(&key)?;
            let secret = super::keys::read_secret(&key)?;
            let vault = Vault::from_env();
            off_runtime(move || vault.set(&slot, &secret)).await?;
            println!("Stored {key} in the OS keyring.");
            let in_url = keys
                .config()
                .load()
                .ok()
                .and_then(|c| c.shared.redis_url)
                .is_some_and(|url| url.password().is_some());
            if in_url {
                println!(
                    "Note: shared.redis_url holds a password too, and that one is used. Set \
                     the URL without it to use this one."
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        ConfigCommand::RmSecret { key } => {
            let slot = secret_slot(&key)?;
            let vault = Vault::from_env();
            if off_runtime(move || vault.delete(&slot)).await? {
                println!("Removed {key} from the OS keyring.");
            } else {
                println!("There was no {key} in the OS keyring.");
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// What to do to restart this install's Redline listening on `address`, in its own words (it
/// knows how it was started); `None` when none of this install listens there. `address` is
/// where it runs (the runtime file's address, else `proxy.listen`).
async fn how_to_restart(address: SocketAddr) -> Option<String> {
    const ANY: &str = "quit and reopen the desktop app, or restart `redline daemon` or its service";
    if !source::is_listening(address).await {
        return None;
    }
    let vault = Vault::from_env();
    let token = match off_runtime(move || vault.get(&Slot::Admin)).await {
        Ok(Some(token)) => token,
        // No Redline of this install has run, so what listens there is not one.
        Ok(None) => return None,
        Err(_) => return Some(ANY.to_owned()),
    };
    let second = Duration::from_secs(1);
    let base = format!("http://{address}");
    let Ok(client) = ApiClient::with_timeouts(&base, token, second, 5 * second) else {
        return Some(ANY.to_owned());
    };
    let call = Call {
        method: Method::GET,
        path: &["settings"],
        ..Call::default()
    };
    match client.send_with_status(call).await {
        Ok(settings) => Some(
            settings["restart"]["how"]
                .as_str()
                .map_or_else(|| ANY.to_owned(), str::to_owned),
        ),
        // Another install's Redline (it holds another token), not this one.
        Err(failure) if failure.status == Some(401) => None,
        Err(_) => Some(ANY.to_owned()),
    }
}
