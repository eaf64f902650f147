//! `redline connect`, `redline disconnect` and `redline tools`: the command-line face of the
//! connect service (`tools::connect::service`), which the engine's API (and so the
//! dashboard) calls too. This module parses the arguments and prints.

use clap::Args;
use redline::Error;
use redline::config::paths::Paths;
use redline::keys::Keys;
use redline::keys::account_id::AccountId;
use redline::keys::secret::Secret;
use redline::keys::token::TokenStore;
use redline::keys::vault::off_runtime;
use redline::serve::runtime_file;
use redline::tools::connect::Tool;
use redline::tools::connect::service::{self, ConnectService, Judge, Proof};
use std::process::ExitCode;

fn parse_tool(name: &str) -> Result<Tool, String> {
    Tool::from_name(name).ok_or_else(|| {
        format!(
            "unknown tool {name:?}; Redline can connect {}",
            Tool::ALL.map(Tool::name).join(", ")
        )
    })
}

#[derive(Args, Debug)]
pub(super) struct ConnectArgs {
    /// claude-code, codex, openclaw, kimi, opencode or aider.
    #[arg(value_parser = parse_tool)]
    tool: Tool,
    /// The account the tool's requests go to, such as kimi-main.
    account: AccountId,
    /// Show the change and write nothing.
    #[arg(long)]
    dry_run: bool,
}

#[derive(Args, Debug)]
pub(super) struct DisconnectArgs {
    /// The tool to take back out: claude-code, codex, openclaw, kimi, opencode or aider.
    #[arg(value_parser = parse_tool)]
    tool: Tool,
}

#[derive(Args, Debug)]
pub(super) struct ToolsArgs {
    /// One JSON object per tool, for scripts.
    #[arg(long)]
    json: bool,
}

fn connect_service(paths: &Paths) -> Result<ConnectService, Error> {
    Ok(ConnectService::new(paths.data_dir())?)
}

pub(super) async fn connect(
    paths: &Paths,
    keys: &Keys,
    args: ConnectArgs,
) -> Result<ExitCode, Error> {
    let ConnectArgs {
        tool,
        account,
        dry_run,
    } = args;
    let config = keys.config().load()?;
    let provider = config.account(&account)?.provider;
    let address = runtime_file::engine_address(paths, config.proxy.listen).await;
    let service = connect_service(paths)?;
    let token = service::tool_token(TokenStore::from_paths(paths), tool).await?;
    let prepared = service.prepare(tool, account.as_str(), provider, address, token)?;
    println!("{}", prepared.edit.preview);
    if tool == Tool::Codex {
        let notes =
            service::codex_profile_notes(&prepared.path, &prepared.edit.bytes, account.as_str());
        for note in notes {
            println!("Note: {note}");
        }
    }
    if dry_run {
        println!(
            "Dry run: {} was not changed. Run the same command without --dry-run to write it.",
            prepared.path.display()
        );
        return Ok(ExitCode::SUCCESS);
    }
    service.write(&prepared)?;
    println!(
        "Wrote {} (your previous file is kept by Redline; `redline disconnect {tool}` restores it).",
        prepared.path.display()
    );
    let proof = service::prove(tool, &prepared.target, address).await;
    let sentence = proof.sentence(tool, account.as_str(), address);
    if let Proof::Failed(_) = proof {
        eprintln!("redline: {sentence}");
        return Ok(ExitCode::FAILURE);
    }
    println!("{sentence}");
    Ok(ExitCode::SUCCESS)
}

pub(super) async fn disconnect(paths: &Paths, args: DisconnectArgs) -> Result<ExitCode, Error> {
    let done = connect_service(paths)?.disconnect(args.tool)?;
    println!("{}", done.sentence(args.tool));
    Ok(ExitCode::SUCCESS)
}

pub(super) async fn tools(paths: &Paths, keys: &Keys, args: ToolsArgs) -> Result<ExitCode, Error> {
    let config = keys.config().load()?;
    let accounts = keys.list()?;
    let running = runtime_file::engine_address(paths, config.proxy.listen).await;
    let service = connect_service(paths)?;
    let store = TokenStore::from_paths(paths);
    let tokens: Vec<(String, Secret)> = off_runtime(move || store.tool_tokens())
        .await?
        .into_iter()
        .map(|(name, secret)| (name.as_str().to_owned(), secret))
        .collect();
    let report = service.report(&Judge {
        accounts: &accounts,
        tokens: &tokens,
        running,
    });
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report.to_json()).expect("JSON")
        );
        return Ok(ExitCode::SUCCESS);
    }
    for r in &report.tools {
        let o = &r.observation;
        let detected = match (o.exists, r.on_path) {
            (_, true) => "installed",
            (true, false) => "config found",
            (false, false) => "not found",
        };
        let state = match &o.state {
            Ok(_) => r.judged.summary.clone(),
            Err(problem) => format!("cannot read: {problem}"),
        };
        println!(
            "{:<12} {:<13} {}\n             {state}",
            o.tool.name(),
            detected,
            o.path.display()
        );
    }
    println!(
        "\n`redline connect TOOL ACCOUNT` points a tool at Redline; `redline disconnect TOOL` undoes it."
    );
    Ok(ExitCode::SUCCESS)
}
