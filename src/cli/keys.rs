//! `redline keys`: add, list, test, rotate, roll back, remove and import keys.

use super::{http_client, provider_id, scan_keys};
use clap::{Args, Subcommand};
use jiff::Timestamp;
use redline::Error;
use redline::config::validate_base_url;
use redline::keys::account_id::AccountId;
use redline::keys::destination;
use redline::keys::secret::{MAX_SECRET_LEN, Secret};
use redline::keys::verify::{Verdict, verify};
use redline::keys::{KeyInfo, Keys, NewAccount, TestResult};
use redline::providers::ProviderId;
use redline::status::model::KeyUseKind;
use redline::status::render::plain;
use redline::tools::connect::service::fix_command;
use redline::tools::key_scan::{self, Finding, Holder};
use std::io::{IsTerminal, Read};
use std::process::ExitCode;

#[derive(Subcommand, Debug)]
pub(super) enum KeysCommand {
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
pub(super) struct AddArgs {
    /// Your name for this key: lowercase letters, digits and '-', e.g. kimi-main.
    id: AccountId,
    /// Which service the key is for.
    #[arg(long, value_name = "PROVIDER", value_parser = provider_id)]
    provider: ProviderId,
    /// Use another API base than the provider's default (a region host or a gateway). Other
    /// machines need https; a host the provider does not own needs --confirm-host.
    #[arg(long, value_name = "URL")]
    base_url: Option<String>,
    /// Send the key to this --base-url host although the provider does not own it (a gateway
    /// you trust).
    #[arg(long, value_name = "HOST", requires = "base_url")]
    confirm_host: Option<String>,
    /// A human-readable name shown in lists, the tray and the dashboard.
    #[arg(long, value_name = "TEXT")]
    label: Option<String>,
    /// Store the key without checking it with the provider.
    #[arg(long)]
    no_verify: bool,
}

pub(super) async fn run(keys: &Keys, command: KeysCommand) -> Result<ExitCode, Error> {
    match command {
        KeysCommand::Add(args) => {
            // Fail on a bad config, a taken id or a bad URL before asking for the secret.
            if keys.config().load()?.accounts.contains_key(&args.id) {
                return Err(Error::DuplicateAccount(args.id.to_string()));
            }
            if let Some(url) = &args.base_url {
                validate_base_url(url).map_err(Error::InvalidBaseUrl)?;
                // Before the key is read and checked: the check sends it there.
                destination::check(args.provider, url, args.confirm_host.as_deref())?;
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
                confirm_host: args.confirm_host,
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
                println!("{id}: {verdict}: {}", plain(&result.message));
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
                let stale: Vec<_> = report
                    .used_by
                    .get(id.as_str())
                    .into_iter()
                    .flatten()
                    .filter(|u| u.key == KeyUseKind::Previous)
                    .collect();
                if !stale.is_empty() {
                    let places: Vec<String> = stale
                        .iter()
                        .map(|u| format!("{} ({})", u.tool, u.source))
                        .collect();
                    let mut fixes: Vec<String> = stale
                        .iter()
                        .map(|u| fix_command(&u.tool, id.as_str()))
                        .collect();
                    fixes.dedup();
                    println!(
                        "Still holding the old key: {}. Give them the new key, or point them at Redline so the next rotation needs no change: {}.",
                        places.join(", "),
                        fixes.join("; ")
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
                    println!(
                        "{}",
                        plain(&key_scan::describe(finding, &report.stored, now))
                    );
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
            confirm_host: None,
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
                "  Point {} at Redline instead: {}; {cleanup}.",
                place.tool,
                fix_command(place.tool, &id)
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
    let result = TestResult::passed(verdict.message());
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
pub(super) fn read_secret(prompt: &str) -> Result<Secret, Error> {
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
        // The provider's words: never an escape sequence that drives the terminal.
        format!("failed, {ago}: {}", plain(&test.message))
    }
}
