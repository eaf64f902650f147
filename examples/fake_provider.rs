//! A fake provider in its own process, for tests that drive the real binary from outside Rust
//! (the dashboard's browser tests). Prints its origin on one line, then serves until its
//! standard input closes.
//!
//!     FAKE_PROVIDER_KEYS=KEY[,MORE_KEYS] fake_provider PROVIDER
//!
//! The keys it accepts come in the environment, never in process arguments. With
//! `FAKE_PROVIDER_HOLD=1` it holds every chat answer until it stops, so requests stay in flight.

use redline::fakes::FakeProvider;
use redline::providers::ProviderId;
use std::io::Read;

#[tokio::main]
async fn main() {
    let provider: ProviderId = match std::env::args().nth(1).map(|p| p.parse()) {
        Some(Ok(provider)) => provider,
        _ => {
            eprintln!("usage: FAKE_PROVIDER_KEYS=KEY[,KEY...] fake_provider PROVIDER");
            std::process::exit(2);
        }
    };
    let keys: Vec<String> = std::env::var("FAKE_PROVIDER_KEYS")
        .unwrap_or_default()
        .split(',')
        .filter(|k| !k.is_empty())
        .map(str::to_owned)
        .collect();
    let Some((first, more)) = keys.split_first() else {
        eprintln!("fake_provider: set FAKE_PROVIDER_KEYS to the keys it accepts");
        std::process::exit(2);
    };
    let fake = FakeProvider::start(provider, first)
        .await
        .expect("the fake provider starts");
    for key in more {
        fake.accept_key(key);
    }
    if std::env::var("FAKE_PROVIDER_HOLD").is_ok_and(|v| v == "1") {
        fake.hold_answers(true);
    }
    println!("{}", fake.origin());
    // Serve until the parent closes our stdin (or dies).
    tokio::task::spawn_blocking(|| {
        let _ = std::io::stdin().read_to_end(&mut Vec::new());
    })
    .await
    .expect("waiting on stdin");
}
