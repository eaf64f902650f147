//! The built-in demo: simulated providers inside the engine and a synthetic workload that
//! drives real requests through the real proxy, so a new user sees green, amber and red with
//! real events and no key.
//!
//! - `kimi-demo`: a Kimi Code look-alike (concurrency limit 30, 5-hour and weekly windows,
//!   Kimi's own 429 body). The workload ramps parallel agents 4 → 26 → 40 → 8, so the account
//!   goes green, amber (27 of 30 in flight), red (429s: concurrency limit) and back.
//! - `claude-demo`: a Claude subscription whose 5-hour window is 86 % used: amber on quota.

use crate::config::Config;
use crate::fakes::FakeProvider;
use crate::keys::secret::Secret;
use crate::poll::monitor::Secrets;
use crate::providers::ProviderId;
use std::time::Duration;
use tokio::task::JoinHandle;

/// Stands in for a key the demo's simulated providers accept; it opens nothing real.
const DEMO_KEY: &str = "sk-demo-not-a-real-key-0000000000";
pub const KIMI_ACCOUNT: &str = "kimi-demo";
const CLAUDE_ACCOUNT: &str = "claude-demo";

/// One step of the workload: this many agents in parallel, for one phase length.
/// Calm, busy (near the limit), over the limit, recovering; then again.
pub const PHASES: [usize; 4] = [4, 26, 40, 8];

/// How long each phase lasts: 25 s, or `REDLINE_DEMO_PHASE_SECONDS` (tests speed it up).
pub fn phase_length() -> Duration {
    let seconds = std::env::var("REDLINE_DEMO_PHASE_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok());
    Duration::from_secs(seconds.filter(|s| *s > 0).unwrap_or(25))
}

/// The simulated providers and the config and secrets that point at them.
pub struct Demo {
    pub config: Config,
    pub secrets: Secrets,
    _providers: Vec<FakeProvider>,
}

pub async fn start() -> std::io::Result<Demo> {
    let kimi = FakeProvider::start(ProviderId::KimiCode, DEMO_KEY).await?;
    kimi.set_concurrency_limit(30);
    kimi.enforce_concurrency(true);
    kimi.set_used_percent(42.0);
    // Each streamed answer takes about two seconds, like a short agent turn.
    kimi.set_stream(20, Duration::from_millis(100));
    let claude = FakeProvider::start(ProviderId::Claude, DEMO_KEY).await?;
    claude.set_used_percent(86.0);

    let text = format!(
        "[accounts.{KIMI_ACCOUNT}]\nprovider = \"kimi-code\"\nlabel = \"Kimi Code (demo)\"\nbase_url = \"{}\"\n\n\
         [accounts.{CLAUDE_ACCOUNT}]\nprovider = \"claude\"\nlabel = \"Claude (demo)\"\nbase_url = \"{}\"\n",
        kimi.origin(),
        claude.origin()
    );
    let config = Config::parse(&text).expect("the demo config is valid");
    let secret = Secret::parse(DEMO_KEY).expect("the demo key is valid");
    let secrets = config
        .accounts
        .keys()
        .map(|id| (id.clone(), Ok(secret.clone())))
        .collect();
    Ok(Demo {
        config,
        secrets,
        _providers: vec![kimi, claude],
    })
}

/// How many agents run `elapsed` into the workload.
pub fn agents_at(elapsed: Duration, phase: Duration) -> usize {
    let index = (elapsed.as_millis() / phase.as_millis().max(1)) as usize;
    PHASES[index % PHASES.len()]
}

/// Sends the workload through the proxy at `origin` (the daemon's own address) with the
/// local token, as coding agents would.
pub fn spawn_workload(origin: String, token: Secret) -> JoinHandle<()> {
    tokio::spawn(async move {
        let client = reqwest::Client::builder()
            .no_proxy()
            .build()
            .expect("HTTP client");
        let url = format!("{origin}/{KIMI_ACCOUNT}/coding/v1/chat/completions");
        let started = tokio::time::Instant::now();
        let phase = phase_length();
        let mut agents: Vec<JoinHandle<()>> = Vec::new();
        loop {
            let wanted = agents_at(started.elapsed(), phase);
            agents.retain(|a| !a.is_finished());
            while agents.len() > wanted {
                agents.pop().expect("not empty").abort();
            }
            while agents.len() < wanted {
                agents.push(tokio::spawn(agent(
                    client.clone(),
                    url.clone(),
                    token.clone(),
                    agents.len(),
                )));
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    })
}

/// One simulated agent: a streamed request, then a short think, over and over; after a 429 it
/// backs off like a real client.
async fn agent(client: reqwest::Client, url: String, token: Secret, n: usize) {
    let body = serde_json::json!({
        "model": "kimi-for-coding",
        "stream": true,
        "messages": [{"role": "user", "content": "Refactor the parser."}],
    });
    loop {
        let response = client
            .post(&url)
            .bearer_auth(token.expose())
            .header(
                "user-agent",
                if n.is_multiple_of(2) {
                    "claude-cli/2.0 (demo)"
                } else {
                    "KimiCLI/0.42 (demo)"
                },
            )
            .json(&body)
            .send()
            .await;
        let pause = match response {
            Ok(response) if response.status().is_success() => {
                let _ = response.bytes().await;
                300
            }
            Ok(_) => 1500,
            Err(_) => 3000,
        };
        tokio::time::sleep(Duration::from_millis(pause + (n as u64 * 37) % 400)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_workload_ramps_through_every_level_and_repeats() {
        let phase = Duration::from_secs(25);
        assert_eq!(agents_at(Duration::ZERO, phase), 4);
        assert_eq!(agents_at(Duration::from_secs(30), phase), 26);
        assert_eq!(agents_at(Duration::from_secs(60), phase), 40);
        assert_eq!(agents_at(Duration::from_secs(80), phase), 8);
        assert_eq!(
            agents_at(Duration::from_secs(100), phase),
            4,
            "the cycle repeats"
        );
        assert!(
            PHASES.iter().any(|&agents| agents > 30),
            "one phase goes past the limit of 30"
        );
        assert!(
            PHASES.iter().any(|agents| (24..30).contains(agents)),
            "one phase sits near it"
        );
    }
}
