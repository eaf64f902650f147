//! `redline providers`: the providers Redline knows and what it can show for each.

use clap::Args;
use redline::providers::{ProviderId, Shows, provider};
use serde_json::json;
use std::process::ExitCode;

#[derive(Args, Debug)]
pub(super) struct ProvidersArgs {
    /// One JSON object per provider, as GET /api/v1/providers gives them.
    #[arg(long)]
    json: bool,
}

pub(super) fn run(args: ProvidersArgs) -> ExitCode {
    if args.json {
        let list: Vec<_> = ProviderId::ALL
            .into_iter()
            .map(|id| {
                let facts = id.facts();
                json!({
                    "id": id,
                    "name": facts.name,
                    "key_hint": facts.key_hint,
                    "shows": facts.shows,
                    "regions": provider(id).regions().iter().map(|r| json!({
                        "name": r.name, "api_base": r.api_base
                    })).collect::<Vec<_>>(),
                })
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&list).expect("JSON"));
        return ExitCode::SUCCESS;
    }
    let rows: Vec<[String; 3]> = ProviderId::ALL
        .into_iter()
        .map(|id| {
            let shows: Vec<&str> = id.facts().shows.iter().map(|s| s.describe()).collect();
            [
                id.to_string(),
                id.display_name().to_owned(),
                // Providers without usage, balance or rate headers: the key check and the
                // causes of refusals are all Redline can tell.
                match shows.is_empty() {
                    true => "key check and refusal causes".to_owned(),
                    false => shows.join(", "),
                },
            ]
        })
        .collect();
    let width = |i: usize| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0);
    let (id_w, name_w) = (width(0).max(2), width(1).max(4));
    println!("{:<id_w$}  {:<name_w$}  REDLINE SHOWS", "ID", "NAME");
    for [id, name, shows] in &rows {
        println!("{id:<id_w$}  {name:<name_w$}  {shows}");
    }
    println!(
        "\nAdd a key with: redline keys add ID --provider PROVIDER < key.txt ({} means \
         only what the proxy sees in answers' headers).",
        Shows::Headers.describe()
    );
    ExitCode::SUCCESS
}
