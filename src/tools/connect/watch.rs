//! The engine's watch over the tools' config files (daemon and desktop app alike): every few
//! seconds it looks at each file's size and modification time, whether Redline connected the
//! tool, the accounts' keys and the tool tokens; when any changed (or a change waits for a
//! second look) it reads the files again, judges them like `redline tools`, and hands what
//! [`notice::Memory`] decides to `publish` (the desktop's notifications, the event stream, the
//! daemon's log).

use super::Tool;
use super::notice::{Memory, Observed, ToolNotice};
use super::service::{ConnectService, Judge, Judged, judge, shown_path};
use crate::keys::Keys;
use crate::keys::credentials::Credentials;
use crate::keys::secret::Secret;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// How often the files are looked at: a stat each, nothing read unless one changed.
pub const WATCH_EVERY: Duration = Duration::from_secs(3);

/// Stops the watch when dropped.
pub struct ToolWatch(tokio::task::JoinHandle<()>);

impl Drop for ToolWatch {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Starts watching the tools of `service` for the Redline on `running`.
pub fn watch(
    service: ConnectService,
    keys: Keys,
    credentials: Arc<Credentials>,
    running: SocketAddr,
    publish: impl Fn(ToolNotice) + Send + Sync + 'static,
) -> ToolWatch {
    ToolWatch(tokio::spawn(run(
        service,
        keys,
        credentials,
        running,
        publish,
    )))
}

/// What is compared between looks: each tool file's (modified, length) and whether Redline
/// connected it, the config file's, and the tool tokens' fingerprints.
type Signature = (
    Vec<(Option<(SystemTime, u64)>, Option<String>)>,
    Option<(SystemTime, u64)>,
    Vec<String>,
);

fn stamp(path: &Path) -> Option<(SystemTime, u64)> {
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.modified().ok()?, meta.len()))
}

async fn run(
    service: ConnectService,
    keys: Keys,
    credentials: Arc<Credentials>,
    running: SocketAddr,
    publish: impl Fn(ToolNotice) + Send + Sync + 'static,
) {
    let mut memory = Some(Memory::default());
    let mut last: Option<Signature> = None;
    let mut tick = tokio::time::interval(WATCH_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let tokens: Vec<(String, Secret)> = credentials
            .tool_names()
            .into_iter()
            .filter_map(|name| Some((name.to_string(), credentials.tool_token(&name)?)))
            .collect();
        let (service, keys, previous) = (service.clone(), keys.clone(), last.clone());
        let taken = memory
            .take()
            .expect("the memory is put back after each look");
        let looked = tokio::task::spawn_blocking(move || {
            look(&service, &keys, &tokens, running, previous, taken)
        })
        .await;
        let Ok((back, signature, notices)) = looked else {
            // The look panicked: start afresh rather than stop watching.
            memory = Some(Memory::default());
            continue;
        };
        memory = Some(back);
        last = Some(signature);
        for notice in notices {
            publish(notice);
        }
    }
}

/// One look: the notices, if anything changed since `previous`.
fn look(
    service: &ConnectService,
    keys: &Keys,
    tokens: &[(String, Secret)],
    running: SocketAddr,
    previous: Option<Signature>,
    mut memory: Memory,
) -> (Memory, Signature, Vec<ToolNotice>) {
    let signature: Signature = (
        Tool::ALL
            .iter()
            .map(|&tool| {
                (
                    stamp(&service.config_path(tool)),
                    service.connected_to(tool),
                )
            })
            .collect(),
        stamp(keys.config().path()),
        tokens.iter().map(|(_, t)| t.fingerprint()).collect(),
    );
    if previous.as_ref() == Some(&signature) && !memory.settling() {
        return (memory, signature, Vec::new());
    }
    // A config that cannot be read now judges no key as old or current: keep the last word.
    let Ok(accounts) = keys.list() else {
        return (memory, signature, Vec::new());
    };
    let with = Judge {
        accounts: &accounts,
        tokens,
        running,
    };
    let mut notices = Vec::new();
    for tool in Tool::ALL {
        let observation = service.inspect(tool);
        let judged = match &observation.state {
            Ok(state) => judge(state, &with),
            Err(problem) => Judged {
                code: super::service::StateCode::Unreadable,
                summary: problem.clone(),
                account: None,
                base_url: None,
                key: None,
                address: None,
                token_tool: None,
                token: super::service::TokenSeen::None,
            },
        };
        let shown = shown_path(&observation.path, service.home());
        let observed = Observed {
            judged,
            connected_to: observation.connected_to,
        };
        notices.extend(memory.observe(tool, &shown, observed));
    }
    (memory, signature, notices)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::paths::Paths;

    /// The watch's look over real files in a temporary home: a connected tool rewritten to
    /// go direct is named on the second look, and an unchanged home is not read again.
    #[test]
    fn a_look_reads_the_files_only_when_something_changed() {
        let home = tempfile::tempdir().unwrap();
        let data = tempfile::tempdir().unwrap();
        let service = ConnectService::with_home(home.path(), data.path());
        let keys = Keys::from_paths(&Paths::under(data.path()));
        let token = Secret::parse("rl_0123456789abcdef0123456789abcdef").unwrap();
        let tokens = vec![("aider".to_owned(), token.clone())];
        let running: SocketAddr = "127.0.0.1:4290".parse().unwrap();
        let prepared = service
            .prepare(
                Tool::Aider,
                "kimi-main",
                crate::providers::ProviderId::KimiCode,
                running,
                token,
            )
            .unwrap();
        service.write(&prepared).unwrap();

        let (memory, first, notices) =
            look(&service, &keys, &tokens, running, None, Memory::default());
        assert!(notices.is_empty(), "{notices:?}");
        let (memory, again, notices) = look(
            &service,
            &keys,
            &tokens,
            running,
            Some(first.clone()),
            memory,
        );
        assert_eq!(first, again);
        assert!(notices.is_empty());

        let path = service.config_path(Tool::Aider);
        std::fs::write(&path, "openai-api-base: https://api.kimi.com/coding/v1\n").unwrap();
        let (memory, changed, notices) =
            look(&service, &keys, &tokens, running, Some(again), memory);
        assert!(notices.is_empty(), "believed on the second look");
        assert!(memory.settling());
        let (_, _, notices) = look(&service, &keys, &tokens, running, Some(changed), memory);
        assert_eq!(notices.len(), 1, "{notices:?}");
        assert_eq!(notices[0].summary, "aider no longer goes through Redline");
        assert_eq!(notices[0].config_path, "~/.aider.conf.yml");
        assert_eq!(notices[0].command, "redline connect aider kimi-main");
    }
}
