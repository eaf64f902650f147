//! `redline status`: the running engine's status or the providers' answers, as text, JSON,
//! Waybar JSON or one line.

use super::{http_client, scan_keys};
use clap::Args;
use jiff::Timestamp;
use redline::Error;
use redline::config::paths::Paths;
use redline::keys::Keys;
use redline::keys::token::TokenStore;
use redline::keys::vault::{Vault, off_runtime};
use redline::poll::monitor;
use redline::serve::runtime_file;
use redline::status;
use redline::status::source::{self, Asked, Form};
use redline::tools::agents::Scanner;
use std::process::ExitCode;

#[derive(Args, Debug)]
pub(super) struct StatusArgs {
    /// Print the status as JSON (the same schema as GET /api/v1/status).
    #[arg(long, conflicts_with_all = ["waybar", "line"])]
    pub(super) json: bool,
    /// Print one line of Waybar custom-module JSON (text, tooltip, class, percentage).
    #[arg(long, conflicts_with = "line")]
    pub(super) waybar: bool,
    /// Print one short plain line for tmux, Polybar or a shell prompt, such as
    /// `WARN kimi-main 85% ▲27/30 | oai 12%`: per account the most used window (or 429
    /// while throttled) and requests in flight / limit; a WARN, CRIT or ? prefix unless all
    /// is ok.
    #[arg(long)]
    pub(super) line: bool,
    /// Ask each provider now, even when Redline is running (one usage call per key; no
    /// throttles or requests in flight, which only the running proxy sees).
    #[arg(long, conflicts_with = "engine")]
    pub(super) direct: bool,
    /// Only ask the running Redline: fail, rather than ask the providers, when none answers.
    #[arg(long)]
    pub(super) engine: bool,
}

pub(super) async fn run(paths: &Paths, keys: &Keys, args: StatusArgs) -> Result<ExitCode, Error> {
    let StatusArgs {
        json,
        waybar,
        line,
        direct,
        engine,
    } = args;
    let form = match (json, waybar || line) {
        (true, _) => Form::Json,
        (false, true) => Form::Bar,
        (false, false) => Form::Text,
    };
    let status = if direct {
        poll_status(keys, form).await?
    } else {
        status_from_engine_or_providers(paths, keys, form, engine).await?
    };
    let now = Timestamp::now();
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&status).expect("status serialises")
        );
    } else if waybar {
        println!("{}", status::render::render_waybar(&status, now));
    } else if line {
        println!("{}", status::render::render_line(&status));
    } else {
        print!("{}", status::render::render_text(&status, now));
    }
    Ok(ExitCode::SUCCESS)
}

/// The running engine's status, or (unless `engine_only`) the providers' answers when no
/// engine gives one.
async fn status_from_engine_or_providers(
    paths: &Paths,
    keys: &Keys,
    form: Form,
    engine_only: bool,
) -> Result<status::model::Status, Error> {
    let config = keys.config().load()?;
    let address = runtime_file::engine_address(paths, config.proxy.listen).await;
    let store = TokenStore::from_paths(paths);
    let asked = if !source::is_listening(address).await {
        Asked::NotRunning
    } else {
        // The status is the admin's. A missing admin credential means no Redline of this
        // install has run, so none can be asked. While the keyring is down, an engine running
        // without it has a stand-in (keys/stand_in.rs).
        match off_runtime(move || store.read_admin()).await {
            Ok(Some(admin)) => source::ask(address, admin).await,
            Ok(None) => Asked::NotRunning,
            Err(err) => Asked::Failed(format!("cannot read the admin credential: {err}")),
        }
    };
    if let Asked::Answered(status) = asked {
        return Ok(*status);
    }
    if engine_only {
        return Err(Error::Environment(source::engine_required(&asked, address)));
    }
    if let Some(note) = source::fallback_note(&asked, address, form) {
        eprintln!("redline: {note}");
    }
    poll_status(keys, form).await
}

/// Every provider asked now, as the engine would; the text and JSON forms add the agents and
/// key uses found on this machine.
async fn poll_status(keys: &Keys, form: Form) -> Result<status::model::Status, Error> {
    let config = keys.config().load()?;
    let mut status = monitor::status_once(&config, &Vault::from_env(), &http_client()?).await;
    // The bar formats show neither, so they skip the scans.
    if form != Form::Bar {
        status.agents = off_runtime(|| Scanner::new().agents()).await;
        if let Ok(report) = scan_keys(keys).await {
            status::model::attach_key_uses(&mut status, &report.used_by);
        }
    }
    Ok(status)
}
