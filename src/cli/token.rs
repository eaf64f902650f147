//! `redline token` (tool tokens and the admin credential) and `redline dashboard` (the
//! dashboard opened signed in, with a one-time code rather than the credential).

use clap::Args;
use redline::Error;
use redline::config::paths::Paths;
use redline::keys::Keys;
use redline::keys::token::{TokenStore, ToolName};
use redline::keys::vault::off_runtime;
use redline::serve::api_client::{ApiClient, Call, Method};
use redline::serve::daemon::open_in_browser;
use redline::serve::runtime_file;
use redline::status::source;
use std::process::ExitCode;
use std::time::Duration;

#[derive(Args, Debug)]
pub(super) struct TokenArgs {
    /// This tool's token (made on first use), such as codex or claude-code; without it, the
    /// default tool token.
    #[arg(long, value_name = "NAME", conflicts_with_all = ["admin", "list", "revoke"])]
    tool: Option<ToolName>,
    /// The admin credential instead of a tool token (made on first use). It opens the
    /// dashboard, the JSON API and /metrics: never put it in a tool's config.
    #[arg(long, conflicts_with_all = ["list", "revoke"])]
    admin: bool,
    /// Replace the token (the tool's, the admin credential, or the default tool token) with a
    /// new one and print it; whoever holds the old one is refused from then on. `--reset` is
    /// another name for it.
    #[arg(long, visible_alias = "reset", conflicts_with_all = ["list", "revoke"])]
    rotate: bool,
    /// Remove this tool's token; the other tools' tokens keep working.
    #[arg(long, value_name = "NAME", conflicts_with = "list")]
    revoke: Option<ToolName>,
    /// List the tools that have a token, with masked fingerprints (never the tokens).
    #[arg(long)]
    list: bool,
    /// With --list: print JSON.
    #[arg(long, requires = "list")]
    json: bool,
}

pub(super) async fn run(paths: &Paths, args: TokenArgs) -> Result<ExitCode, Error> {
    let store = TokenStore::from_paths(paths);
    if args.list {
        let list = off_runtime(move || store.list()).await?;
        if args.json {
            println!(
                "{}",
                serde_json::to_string_pretty(&list).expect("token infos serialise")
            );
        } else if list.is_empty() {
            println!("No tool has a token yet: `redline token` makes the default one.");
        } else {
            let width = list.iter().map(|t| t.tool.len()).max().unwrap_or(0).max(4);
            println!("{:width$}  FINGERPRINT", "TOOL");
            for info in &list {
                println!("{:width$}  {}", info.tool, info.fingerprint);
            }
        }
        return Ok(ExitCode::SUCCESS);
    }
    if let Some(tool) = args.revoke {
        let revoking = tool.clone();
        if !off_runtime(move || store.revoke_tool_token(&revoking)).await? {
            return Err(Error::Environment(format!(
                "{tool} has no token: `redline token --list` shows the tools that have one"
            )));
        }
        println!(
            "Revoked the token of {tool}: a running Redline refuses it within two seconds; the other tools' tokens keep working."
        );
        return Ok(ExitCode::SUCCESS);
    }
    let (admin, rotate) = (args.admin, args.rotate);
    let tool = args.tool.unwrap_or_else(ToolName::default_tool);
    let announced = tool.clone();
    let secret = off_runtime(move || match (admin, rotate) {
        (true, false) => store.admin(),
        (true, true) => store.rotate_admin(),
        (false, false) => store.tool_token(&tool),
        (false, true) => store.rotate_tool_token(&tool),
    })
    .await?;
    // Only the token on standard output, so scripts can take it as it is.
    println!("{}", secret.expose());
    if rotate {
        let whose = if admin {
            "the admin credential".to_owned()
        } else {
            format!("the token of {announced}")
        };
        eprintln!("Replaced {whose}: a running Redline refuses the old one within two seconds.");
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(Args, Debug)]
pub(super) struct DashboardArgs {
    /// Print the link instead of opening it (it works once, within two minutes).
    #[arg(long)]
    print: bool,
}

/// Asks the running engine for a one-time sign-in code with the admin credential, and opens
/// (or prints) the dashboard's link with it.
pub(super) async fn dashboard(
    paths: &Paths,
    keys: &Keys,
    args: DashboardArgs,
) -> Result<ExitCode, Error> {
    let config = keys.config().load()?;
    let address = runtime_file::engine_address(paths, config.proxy.listen).await;
    if !source::is_listening(address).await {
        return Err(Error::Environment(format!(
            "no Redline is running on {address} (proxy.listen, or where the running one said it listens): start it (`redline daemon`, or the desktop app), then run `redline dashboard` again"
        )));
    }
    let store = TokenStore::from_paths(paths);
    let admin = off_runtime(move || store.admin()).await?;
    let origin = format!("http://{address}");
    let client = ApiClient::with_timeouts(
        &origin,
        admin,
        Duration::from_secs(2),
        Duration::from_secs(10),
    )
    .map_err(Error::Environment)?;
    let call = Call {
        method: Method::POST,
        path: &["session", "code"],
        ..Call::default()
    };
    let code = match client.send_with_status(call).await {
        Ok(answer) => answer["code"].as_str().map(str::to_owned),
        Err(failure) if matches!(failure.status, Some(401 | 403)) => {
            return Err(Error::Environment(format!(
                "the Redline on {address} did not accept this install's admin credential: it runs with another REDLINE_HOME or keyring, or is an older version. Restart it, then try again"
            )));
        }
        Err(failure) => {
            return Err(Error::Environment(format!(
                "the Redline on {address} gave no sign-in link: {}",
                failure.message()
            )));
        }
    };
    let code = code.ok_or_else(|| {
        Error::Environment(format!(
            "the Redline on {address} gave no sign-in link: is it an older version? Restart it, then try again"
        ))
    })?;
    let link = zeroize::Zeroizing::new(format!("{origin}/#token={code}"));
    if args.print {
        println!("{}", *link);
    } else {
        open_in_browser(&link);
        println!(
            "Opened the dashboard ({origin}/) in your browser. Nothing opened? Run `redline dashboard --print` and open the link within two minutes."
        );
    }
    Ok(ExitCode::SUCCESS)
}
