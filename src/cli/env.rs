//! `redline env ACCOUNT [--tool TOOL]`: what each tool needs to go through Redline for one
//! account, with that tool's own token. The text is `tools::connect::setup`'s, the same the
//! dashboard's setup panel and the tray's "Copy setup for tools" give.

use clap::Args;
use redline::Error;
use redline::config::paths::Paths;
use redline::keys::Keys;
use redline::keys::account_id::AccountId;
use redline::keys::token::TokenStore;
use redline::keys::vault::off_runtime;
use redline::serve::runtime_file;
use redline::tools::connect::service::config_path;
use redline::tools::connect::setup::{self, EnvFor, SetupFor, SetupTokens};
use redline::tools::key_scan;
use redline::tools::tool_env::Shell;
use std::process::ExitCode;

#[derive(Args, Debug)]
pub(super) struct EnvArgs {
    id: AccountId,
    /// Only this tool: claude-code, codex, openclaw, kimi, opencode or aider (its config
    /// file's content), or openai-sdk / anthropic-sdk (variables for the SDKs).
    #[arg(long, value_name = "TOOL", value_parser = setup::parse_for)]
    tool: Option<EnvFor>,
    /// Syntax of the SDK variables.
    #[arg(long, value_enum, default_value = "sh")]
    shell: Shell,
}

pub(super) async fn run(paths: &Paths, keys: &Keys, args: EnvArgs) -> Result<ExitCode, Error> {
    let config = keys.config().load()?;
    let provider = config.account(&args.id)?.provider;
    let address = runtime_file::engine_address(paths, config.proxy.listen).await;
    let id = &args.id;
    let home = key_scan::home_dir().unwrap_or_default();
    let store = TokenStore::from_paths(paths);
    let what = args.tool;
    let tokens = off_runtime(move || match what {
        Some(what) => SetupTokens::load_for(&store, what),
        None => SetupTokens::load(&store),
    })
    .await?;
    let of = SetupFor {
        account: id.as_str(),
        provider,
        address,
        demo: false,
    };
    match args.tool {
        Some(what) => {
            let text = setup::one(what, of, &tokens, args.shell).map_err(Error::Environment)?;
            if let EnvFor::Tool(tool) = what {
                // Only the file's content on stdout: a comment would break strict JSON.
                eprintln!(
                    "# {} for {id}: the settings for {} (`redline connect {} {id}` writes them into the file for you, keeping the rest).",
                    tool.display_name(),
                    config_path(tool, &home).display(),
                    tool.name()
                );
            }
            print!("{text}");
        }
        None => print!("{}", setup::all(of, &tokens, args.shell, &home)),
    }
    Ok(ExitCode::SUCCESS)
}
