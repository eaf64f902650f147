//! The monitor: a poller per account, their reports folded into one [`Status`] published on a
//! `watch` channel (the single truth every view renders), plus the one-shot variant the CLI's
//! `redline status` uses.

use crate::config::{Account, Config};
use crate::keys::account_id::AccountId;
use crate::keys::secret::Secret;
use crate::keys::secret::redact_keys;
use crate::keys::vault::{Slot, Vault, VaultError, off_runtime};
use crate::poll::fetch::HttpClient;
use crate::poll::poller::{PollFuture, PollReport, PollResult, Poller, Schedule, UsageSource};
use crate::poll::usage::{PollError, Target, poll_once, target};
use crate::providers::provider;
use crate::proxy::traffic::Traffic;
use crate::status::health::{PollProblem, Shown};
use crate::status::model::{
    KeyUse, Observed, ProcessFootprint, RunningAgent, Status, attach_key_uses, build,
};
use jiff::Timestamp;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::sync::{mpsc, watch};

/// Polls one account's usage URL over HTTP.
struct HttpSource {
    client: HttpClient,
    account: Account,
    target: Target,
    secret: Secret,
}

impl UsageSource for HttpSource {
    fn poll(&self) -> PollFuture {
        let (client, provider_id, target, secret) = (
            self.client.clone(),
            self.account.provider,
            self.target.clone(),
            self.secret.clone(),
        );
        Box::pin(async move { poll_once(&client, provider(provider_id), &target, &secret).await })
    }
}

/// What a finished poll means for the account's observed state.
fn observe(observed: &mut Observed, result: &PollResult, now: Timestamp) {
    match result {
        Ok(snapshot) => {
            observed.snapshot = Some(snapshot.clone());
            observed.problem = None;
            observed.updated_at = Some(now);
        }
        Err(error) => observed.problem = Some(problem(error)),
    }
}

fn problem(error: &PollError) -> PollProblem {
    if error.key_rejected() {
        PollProblem::KeyRejected(redact_keys(&error.message()))
    } else {
        PollProblem::NoData(redact_keys(&error.message()))
    }
}

/// The log line for a poll problem that is new for the account: the message and, for an answer
/// of unknown shape, its field names (never values), so a changed API can be told apart.
fn problem_log_line(id: &AccountId, error: &PollError) -> String {
    let mut line = format!("redline: {id}: {}", redact_keys(&error.message()));
    if !error.answer_fields().is_empty() {
        line.push_str(&format!(
            "; fields in its answer: {}",
            error.answer_fields().join(", ")
        ));
    }
    line
}

/// Why an account has no key to poll with.
#[derive(Clone, Debug, PartialEq)]
pub enum NoKey {
    /// The keyring is locked or not running: the key is probably there, and a running engine
    /// waits for it ([`retry_keyring`]).
    KeyringDown(VaultError),
    /// No entry, or one that cannot be used: what health shows.
    Problem(PollProblem),
}

impl NoKey {
    /// What a running engine shows for the account: a keyring it waits for is grey, with
    /// what to do and that no restart is needed.
    pub fn problem(&self) -> PollProblem {
        match self {
            NoKey::KeyringDown(down) => {
                PollProblem::NoData(down.waiting_message().unwrap_or_else(|| down.to_string()))
            }
            NoKey::Problem(problem) => problem.clone(),
        }
    }
}

/// Each account's secret, or why there is none.
pub type Secrets = BTreeMap<AccountId, Result<Secret, NoKey>>;

/// Reads every account's secret from the keyring (off the async runtime). A locked keyring
/// may prompt the user to unlock it: for one-shot commands.
pub async fn load_secrets(vault: &Vault, config: &Config) -> Secrets {
    read_secrets(vault, config, false).await
}

/// [`load_secrets`] for a running engine: the keyring is looked at first without prompting,
/// and while it is locked or not running nothing is read; every account then waits for it.
pub async fn load_secrets_quietly(vault: &Vault, config: &Config) -> Secrets {
    read_secrets(vault, config, true).await
}

async fn read_secrets(vault: &Vault, config: &Config, quietly: bool) -> Secrets {
    let vault = vault.clone();
    let ids: Vec<AccountId> = config.accounts.keys().cloned().collect();
    off_runtime(move || {
        let down = match quietly && !ids.is_empty() {
            true => vault.probe().err(),
            false => None,
        };
        ids.into_iter()
            .map(|id| {
                let secret = match &down {
                    Some(down) => Err(NoKey::KeyringDown(down.clone())),
                    None => read_secret(&vault, &id),
                };
                (id, secret)
            })
            .collect()
    })
    .await
}

fn read_secret(vault: &Vault, id: &AccountId) -> Result<Secret, NoKey> {
    match vault.get(&Slot::Current(id.clone())) {
        Ok(Some(secret)) => Ok(secret),
        Ok(None) => Err(NoKey::Problem(PollProblem::KeyRejected(format!(
            "the keyring has no key for {id}: store it with `redline keys rotate {id}`"
        )))),
        Err(err) if err.is_keyring_down() => Err(NoKey::KeyringDown(err)),
        Err(err) => Err(NoKey::Problem(PollProblem::NoData(err.to_string()))),
    }
}

/// Why the keyring cannot be read, when some account waits for it.
pub fn keyring_down(secrets: &Secrets) -> Option<&VaultError> {
    secrets.values().find_map(|secret| match secret {
        Err(NoKey::KeyringDown(down)) => Some(down),
        _ => None,
    })
}

/// For a running engine while accounts wait for the keyring: reads the secrets again (looking
/// first, never prompting) and returns them when anything changed: the keys, once the keyring
/// answers, or why it still does not (not running, then locked). `None` when nothing waits or
/// nothing changed.
pub async fn retry_keyring(vault: &Vault, config: &Config, secrets: &Secrets) -> Option<Secrets> {
    keyring_down(secrets)?;
    let fresh = load_secrets_quietly(vault, config).await;
    (fresh != *secrets).then_some(fresh)
}

/// The secrets read after a config change, keeping the keys already in memory for accounts
/// whose key the keyring cannot give now (locked since) while the config still names that
/// key: a settings change must not take the keys away from a running engine.
pub fn keep_known(mut fresh: Secrets, previous: &Secrets, config: &Config) -> Secrets {
    for (id, secret) in fresh.iter_mut() {
        let (Err(NoKey::KeyringDown(_)), Some(Ok(known))) = (&secret, previous.get(id)) else {
            continue;
        };
        let same_key = config.accounts.get(id).is_some_and(|account| {
            account
                .fingerprint
                .as_ref()
                .is_none_or(|print| *print == known.fingerprint())
        });
        if same_key {
            *secret = Ok(known.clone());
        }
    }
    fresh
}

/// Polls every account once, concurrently, and builds the status.
pub async fn status_once(config: &Config, vault: &Vault, client: &HttpClient) -> Status {
    let mut tasks = tokio::task::JoinSet::new();
    let mut observed: BTreeMap<AccountId, Observed> = BTreeMap::new();
    for (id, secret) in load_secrets(vault, config).await {
        let account = config.accounts[&id].clone();
        match secret {
            Ok(secret) => {
                let client = client.clone();
                tasks.spawn(async move {
                    let adapter = provider(account.provider);
                    let target = target(adapter, account.base_url.as_deref());
                    (id, poll_once(&client, adapter, &target, &secret).await)
                });
            }
            Err(no_key) => {
                // A one-shot command does not wait for the keyring: it says what failed.
                let problem = match no_key {
                    NoKey::KeyringDown(err) => PollProblem::NoData(err.to_string()),
                    NoKey::Problem(problem) => problem,
                };
                observed.insert(
                    id,
                    Observed {
                        problem: Some(problem),
                        ..Observed::default()
                    },
                );
            }
        }
    }
    while let Some(joined) = tasks.join_next().await {
        let (id, result) = joined.expect("a poll task panicked");
        observe(observed.entry(id).or_default(), &result, Timestamp::now());
    }
    build(config, &observed, &mut BTreeMap::new(), Timestamp::now())
}

/// The longest a traffic change waits before the status shows it.
const TRAFFIC_REBUILD: Duration = Duration::from_millis(200);

/// Live monitoring of every account in a config: usage polls plus the proxy's traffic.
/// [`Monitor::reconfigure`] swaps in new accounts and keys without a restart.
pub struct Monitor {
    status: watch::Receiver<Status>,
    pollers: Mutex<BTreeMap<AccountId, Arc<Poller>>>,
    events: mpsc::UnboundedSender<Event>,
    client: HttpClient,
    aggregator: tokio::task::JoinHandle<()>,
}

impl Drop for Monitor {
    fn drop(&mut self) {
        self.aggregator.abort();
    }
}

/// What the aggregator hears about: a finished poll, a new set of accounts, or what was seen
/// around them (running agents, Redline's footprint, which tools hold which key).
enum Event {
    Report(AccountId, PollResult),
    Accounts(Config, BTreeMap<AccountId, Observed>),
    Agents(Vec<RunningAgent>, Option<ProcessFootprint>),
    KeyUses(BTreeMap<String, Vec<KeyUse>>),
}

impl Monitor {
    /// Starts a poller for every account that has a secret. `demo` marks every status as the
    /// built-in demo's.
    pub fn start(
        config: Config,
        secrets: Secrets,
        client: HttpClient,
        traffic: Arc<Traffic>,
        demo: bool,
    ) -> Monitor {
        let (events, events_rx) = mpsc::unbounded_channel();
        let mut first = build(
            &config,
            &BTreeMap::new(),
            &mut BTreeMap::new(),
            Timestamp::now(),
        );
        first.demo = demo;
        let (status_tx, status) = watch::channel(first);
        let aggregate = Aggregate {
            config: Config::default(),
            observed: BTreeMap::new(),
            shown: BTreeMap::new(),
            traffic,
            surroundings: Surroundings::default(),
            demo,
        };
        let aggregator = tokio::spawn(aggregate.run(events_rx, status_tx));
        let monitor = Monitor {
            status,
            pollers: Mutex::new(BTreeMap::new()),
            events,
            client,
            aggregator,
        };
        monitor.reconfigure(config, secrets);
        monitor
    }

    /// Replaces the accounts and their keys: every account is polled afresh.
    pub fn reconfigure(&self, config: Config, secrets: Secrets) {
        let interval = Duration::from_secs(config.poll.interval_s);
        let mut problems = BTreeMap::new();
        let mut sources = Vec::new();
        for (id, secret) in secrets {
            let Some(account) = config.accounts.get(&id).cloned() else {
                continue;
            };
            match secret {
                Ok(secret) => sources.push((id, account, secret)),
                Err(no_key) => {
                    problems.insert(
                        id,
                        Observed {
                            problem: Some(no_key.problem()),
                            ..Observed::default()
                        },
                    );
                }
            }
        }
        // The old pollers stop first, then the aggregator learns the accounts, then the new
        // pollers start. A first report queued before the accounts would be dropped (an account
        // the aggregator does not know yet) or wiped when they are applied, leaving the account
        // blank until its next poll (the demo did this to about one start in four).
        let mut pollers = self.pollers.lock().unwrap_or_else(PoisonError::into_inner);
        pollers.clear();
        let _ = self.events.send(Event::Accounts(config, problems));
        for (id, account, secret) in sources {
            let adapter = provider(account.provider);
            let schedule = Schedule::every(interval.max(adapter.min_poll_interval()));
            let target = target(adapter, account.base_url.as_deref());
            let source = HttpSource {
                client: self.client.clone(),
                account,
                target,
                secret,
            };
            let poller = Poller::spawn(Arc::new(source), schedule);
            forward(id.clone(), poller.subscribe(), self.events.clone());
            pollers.insert(id, Arc::new(poller));
        }
    }

    /// The AI coding tools running now and Redline's own footprint, shown in the status.
    pub fn set_agents(&self, agents: Vec<RunningAgent>, process: Option<ProcessFootprint>) {
        let _ = self.events.send(Event::Agents(agents, process));
    }

    /// Which tools hold each account's keys (`accounts[].key.used_by`), from a key scan.
    pub fn set_key_uses(&self, uses: BTreeMap<String, Vec<KeyUse>>) {
        let _ = self.events.send(Event::KeyUses(uses));
    }

    /// The latest status; `changed()` on it wakes on every change.
    pub fn status(&self) -> watch::Receiver<Status> {
        self.status.clone()
    }

    /// Polls every account now and returns when each has answered (coalescing with polls
    /// already in progress).
    pub async fn refresh_all(&self) {
        let pollers: Vec<Arc<Poller>> = self
            .pollers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
            .cloned()
            .collect();
        futures_util::future::join_all(pollers.iter().map(|p| p.refresh())).await;
    }
}

fn forward(
    id: AccountId,
    mut reports: watch::Receiver<PollReport>,
    to: mpsc::UnboundedSender<Event>,
) {
    tokio::spawn(async move {
        while reports.changed().await.is_ok() {
            let result = reports.borrow_and_update().result.clone();
            if let Some(result) = result
                && to.send(Event::Report(id.clone(), result)).is_err()
            {
                return;
            }
        }
    });
}

/// The observed state with each account's live traffic filled in.
fn with_traffic(
    observed: &BTreeMap<AccountId, Observed>,
    traffic: &Traffic,
) -> BTreeMap<AccountId, Observed> {
    let mut merged = observed.clone();
    for (id, seen) in merged.iter_mut() {
        seen.add_traffic(traffic, id);
    }
    merged
}

struct Aggregate {
    config: Config,
    observed: BTreeMap<AccountId, Observed>,
    shown: BTreeMap<AccountId, Shown>,
    traffic: Arc<Traffic>,
    surroundings: Surroundings,
    demo: bool,
}

/// What the scanners last reported; empty until they run.
#[derive(Default)]
struct Surroundings {
    agents: Vec<RunningAgent>,
    process: Option<ProcessFootprint>,
    key_uses: BTreeMap<String, Vec<KeyUse>>,
}

impl Aggregate {
    /// Rebuilds the status on every poll report, account change and traffic change.
    async fn run(
        mut self,
        mut events: mpsc::UnboundedReceiver<Event>,
        status: watch::Sender<Status>,
    ) {
        let mut traffic_changes = self.traffic.subscribe();
        // Traffic changes twice per request; under load, rebuild at most every 200 ms so the
        // status never sits on the proxy's path. Polls and account changes rebuild at once.
        let mut traffic_tick = tokio::time::interval(TRAFFIC_REBUILD);
        traffic_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut traffic_changed = false;
        loop {
            tokio::select! {
                event = events.recv() => match event {
                    Some(Event::Report(id, result)) => {
                        if self.config.accounts.contains_key(&id) {
                            let seen = self.observed.entry(id.clone()).or_default();
                            let before = seen.problem.clone();
                            observe(seen, &result, Timestamp::now());
                            if let Err(error) = &result && seen.problem != before {
                                eprintln!("{}", problem_log_line(&id, error));
                            }
                        }
                    }
                    Some(Event::Accounts(config, problems)) => {
                        self.config = config;
                        self.observed = problems;
                        self.shown.retain(|id, _| self.config.accounts.contains_key(id));
                        for id in self.config.accounts.keys() {
                            self.observed.entry(id.clone()).or_default();
                        }
                    }
                    Some(Event::Agents(agents, process)) => {
                        self.surroundings.agents = agents;
                        self.surroundings.process = process;
                    }
                    Some(Event::KeyUses(uses)) => self.surroundings.key_uses = uses,
                    None => return,
                },
                // Once a rebuild is due, further changes need not wake this task.
                changed = traffic_changes.changed(), if !traffic_changed => {
                    if changed.is_err() {
                        return;
                    }
                    traffic_changed = true;
                    continue;
                }
                _ = traffic_tick.tick(), if traffic_changed => traffic_changed = false,
            }
            let observed = with_traffic(&self.observed, &self.traffic);
            let mut next = build(&self.config, &observed, &mut self.shown, Timestamp::now());
            next.agents = self.surroundings.agents.clone();
            next.process = self.surroundings.process;
            next.demo = self.demo;
            attach_key_uses(&mut next, &self.surroundings.key_uses);
            // Only a change in what is shown wakes the views.
            status.send_if_modified(|current| {
                let changed = current.level != next.level
                    || current.accounts != next.accounts
                    || current.agents != next.agents;
                if changed {
                    *current = next;
                } else {
                    // Redline's own footprint differs at every reading: kept fresh for
                    // readers, but it wakes no view by itself.
                    current.process = next.process;
                }
                changed
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(fingerprint: Option<&str>) -> Config {
        let mut text = "[accounts.kimi-main]\nprovider = \"kimi-code\"\n".to_owned();
        if let Some(print) = fingerprint {
            text.push_str(&format!("fingerprint = \"{print}\"\n"));
        }
        Config::parse(&text).unwrap()
    }

    fn locked() -> NoKey {
        NoKey::KeyringDown(VaultError::Locked {
            detail: "collection is locked".into(),
        })
    }

    #[test]
    fn a_keyring_locked_since_does_not_take_the_keys_a_running_engine_holds() {
        let id: AccountId = "kimi-main".parse().unwrap();
        let key = Secret::parse("sk-kimi-KeptAbcdefghijklmnop1234").unwrap();
        let previous: Secrets = [(id.clone(), Ok(key.clone()))].into();
        let fresh = || -> Secrets { [(id.clone(), Err(locked()))].into() };

        let same = config(Some(&key.fingerprint()));
        assert_eq!(keep_known(fresh(), &previous, &same)[&id], Ok(key.clone()));
        // A config that names no key yet (older files) keeps it too.
        assert_eq!(keep_known(fresh(), &previous, &config(None))[&id], Ok(key));
        // Another key in the config: the one in memory is not the account's any more.
        let rotated = config(Some("sk-kimi-…9999"));
        assert_eq!(keep_known(fresh(), &previous, &rotated)[&id], Err(locked()));
        // Nothing kept where nothing was known.
        assert_eq!(
            keep_known(fresh(), &Secrets::new(), &same)[&id],
            Err(locked())
        );
        assert!(keyring_down(&fresh()).is_some());
        assert!(keyring_down(&previous).is_none());
    }

    #[test]
    fn an_account_waiting_for_the_keyring_is_grey_with_what_to_do() {
        let PollProblem::NoData(text) = locked().problem() else {
            panic!("grey, not red");
        };
        assert!(
            text.starts_with("Keyring locked: unlock your login keyring"),
            "{text}"
        );
        assert!(
            text.contains("by itself") && text.contains("no restart needed"),
            "{text}"
        );
        let down = NoKey::KeyringDown(VaultError::Unavailable {
            detail: "no Secret Service is running in this session".into(),
        });
        let PollProblem::NoData(text) = down.problem() else {
            panic!("grey, not red");
        };
        assert!(
            text.starts_with("Keyring unavailable (no Secret Service is running in this session)"),
            "{text}"
        );
    }
}
