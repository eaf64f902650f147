//! `redline config`: show the settings in effect, change one.

use clap::Subcommand;
use redline::Error;
use redline::config::ConfigFile;
use redline::config::paths::Paths;
use redline::config::settings;
use redline::keys::Keys;
use std::process::ExitCode;
#[derive(Subcommand, Debug)]
pub(super) enum ConfigCommand {
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
    /// accounts.<id>.base_url (an empty value removes a label or base URL; other machines
    /// need https, and a host the provider does not own needs --confirm-host).
    Set {
        key: String,
        value: String,
        /// Let accounts.<id>.base_url send the key to this host although the provider does not
        /// own it (a gateway you trust).
        #[arg(long, value_name = "HOST")]
        confirm_host: Option<String>,
    },
}

pub(super) fn run(paths: &Paths, keys: &Keys, command: ConfigCommand) -> Result<ExitCode, Error> {
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
            settings::set_many_confirmed(&file, &[(&key, &value)], confirm_host.as_deref())?;
            println!("Saved {key} = {value} in {}", file.path().display());
            Ok(ExitCode::SUCCESS)
        }
    }
}
