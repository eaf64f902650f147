//! The built-in demo: simulated providers inside the engine and a synthetic workload that
//! drives real requests through the real proxy, so a new user sees green, amber and red with
//! real events and no key.
//!
//! - `kimi-demo`: a Kimi Code look-alike (concurrency limit 30, 5-hour and weekly windows,
//!   Kimi's own 429 body). The workload ramps parallel agents 4 → 26 → 40 → 8, so the account
//!   goes green, amber (27 of 30 in flight), red (429s: concurrency limit) and back.
//! - `claude-demo`: a Claude subscription whose 5-hour window is 86 % used: amber on quota.
//!
//! The workload runs while someone can see it. In the desktop app that is while its window is
//! open: hidden in the tray, the agents stop and the demo costs what an idle engine costs (a
//! new user's first run should not spend a few percent of a core on a show nobody watches); the
//! story resumes where it was when the window opens again. `redline daemon --demo` (shown in a
//! browser) always runs it.

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

/// How often the workload checks its number of agents while it runs.
pub const TICK: Duration = Duration::from_millis(250);

/// Whether the demo is being watched, for the desktop app: `true` while its window is open.
/// `None` (the command line's `redline daemon --demo`) counts as always watched.
pub type Watched = Option<tokio::sync::watch::Receiver<bool>>;

/// What the workload does `elapsed` into its story (counted while watched only).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Step {
    /// Agents that should be running now.
    pub agents: usize,
    /// When to look again; `None`: not before the window opens (no timer at all meanwhile).
    pub next_tick: Option<Duration>,
}

/// The workload's pace: the full story on a [`TICK`] while watched, nothing (no agents and no
/// timer) while nobody can see it.
pub fn step(elapsed: Duration, phase: Duration, watched: bool) -> Step {
    if watched {
        Step {
            agents: agents_at(elapsed, phase),
            next_tick: Some(TICK),
        }
    } else {
        Step {
            agents: 0,
            next_tick: None,
        }
    }
}

/// Sends the workload through the proxy at `origin` (the daemon's own address) with the
/// local token, as coding agents would, while `watched` says someone can see it.
pub fn spawn_workload(origin: String, token: Secret, watched: Watched) -> JoinHandle<()> {
    let client = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("HTTP client");
    let url = format!("{origin}/{KIMI_ACCOUNT}/coding/v1/chat/completions");
    let start_agent = move |n| tokio::spawn(agent(client.clone(), url.clone(), token.clone(), n));
    tokio::spawn(drive(watched, phase_length(), start_agent))
}

/// Keeps as many agents running as [`step`] says, starting the `n`th with `start_agent(n)`.
async fn drive(
    mut watched: Watched,
    phase: Duration,
    mut start_agent: impl FnMut(usize) -> JoinHandle<()>,
) {
    // The story's clock runs only while watched, so it resumes where it was.
    let mut story = Duration::ZERO;
    let mut agents: Vec<JoinHandle<()>> = Vec::new();
    loop {
        let seen = watched.as_mut().is_none_or(|w| *w.borrow_and_update());
        let Step {
            agents: wanted,
            next_tick,
        } = step(story, phase, seen);
        agents.retain(|a| !a.is_finished());
        while agents.len() > wanted {
            agents.pop().expect("not empty").abort();
        }
        while agents.len() < wanted {
            agents.push(start_agent(agents.len()));
        }
        let before = tokio::time::Instant::now();
        match (next_tick, watched.as_mut()) {
            (Some(tick), None) => tokio::time::sleep(tick).await,
            // Hidden takes effect at once, not at the next tick.
            (Some(tick), Some(watched)) => tokio::select! {
                _ = tokio::time::sleep(tick) => {}
                changed = watched.changed() => if changed.is_err() { return },
            },
            (None, Some(watched)) => {
                // The app is going away when its sender is gone.
                if watched.changed().await.is_err() {
                    return;
                }
            }
            (None, None) => unreachable!("unwatched only with a watch"),
        }
        if next_tick.is_some() {
            story += before.elapsed();
        }
    }
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
    fn the_workload_runs_on_a_tick_while_watched_and_not_at_all_while_hidden() {
        let phase = Duration::from_secs(25);
        let at = Duration::from_secs(30);
        assert_eq!(
            step(at, phase, true),
            Step {
                agents: 26,
                next_tick: Some(TICK)
            }
        );
        assert_eq!(
            step(at, phase, false),
            Step {
                agents: 0,
                next_tick: None
            },
            "hidden: no agents and no timer, whatever the phase"
        );
        for seconds in [0, 30, 60, 80] {
            assert_eq!(step(Duration::from_secs(seconds), phase, false).agents, 0);
        }
    }

    /// The driver on a paused clock, with agents that count their turns: agents run while
    /// watched, all stop when hidden, and come back when watched again.
    #[tokio::test(start_paused = true)]
    async fn hiding_the_window_stops_the_agents_and_showing_it_resumes_them() {
        use std::sync::Arc;
        use std::sync::atomic::{AtomicUsize, Ordering};
        let turns = Arc::new(AtomicUsize::new(0));
        let counted = turns.clone();
        let start_agent = move |_n| {
            let counted = counted.clone();
            tokio::spawn(async move {
                loop {
                    counted.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            })
        };
        let (window, watched) = tokio::sync::watch::channel(true);
        let phase = Duration::from_secs(25);
        let driver = tokio::spawn(drive(Some(watched), phase, start_agent));
        let turns_over = |seconds| {
            let turns = turns.clone();
            async move {
                let before = turns.load(Ordering::SeqCst);
                tokio::time::sleep(Duration::from_secs(seconds)).await;
                turns.load(Ordering::SeqCst) - before
            }
        };
        // 4 agents in the first phase, a turn each every 100 ms.
        assert!(turns_over(5).await >= 4 * 45, "watched: the agents run");
        window.send(false).unwrap();
        tokio::time::sleep(Duration::from_millis(1)).await;
        assert_eq!(turns_over(60).await, 0, "hidden: not one turn in a minute");
        window.send(true).unwrap();
        assert!(
            turns_over(5).await >= 4 * 45,
            "shown again: the agents are back"
        );
        window.send(false).unwrap();
        drop(window);
        tokio::time::timeout(Duration::from_secs(1), driver)
            .await
            .expect("the driver ends with the app's watch")
            .unwrap();
    }

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
