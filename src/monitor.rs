//! The monitor: a poller per account, their reports folded into one [`Status`] published on a
//! `watch` channel (the single truth every view renders), plus the one-shot variant the CLI's
//! `redline status` uses.

use crate::account_id::AccountId;
use crate::config::{Account, Config};
use crate::fetch::HttpClient;
use crate::health::{PollProblem, Shown};
use crate::poller::{PollFuture, PollReport, PollResult, Poller, Schedule, UsageSource};
use crate::providers::provider;
use crate::secret::Secret;
use crate::status::{Observed, Status, build};
use crate::traffic::Traffic;
use crate::usage::{PollError, Target, poll_once, target};
use crate::vault::{Slot, Vault, off_runtime};
use jiff::Timestamp;
use std::collections::BTreeMap;
use std::sync::Arc;
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
        PollProblem::KeyRejected(error.message())
    } else {
        PollProblem::NoData(error.message())
    }
}

/// Each account's secret, or the problem that stands in for its data.
pub type Secrets = BTreeMap<AccountId, Result<Secret, PollProblem>>;

/// Reads every account's secret from the keyring (off the async runtime).
pub async fn load_secrets(vault: &Vault, config: &Config) -> Secrets {
    let vault = vault.clone();
    let ids: Vec<AccountId> = config.accounts.keys().cloned().collect();
    off_runtime(move || {
        ids.into_iter()
            .map(|id| {
                let secret = match vault.get(&Slot::Current(id.clone())) {
                    Ok(Some(secret)) => Ok(secret),
                    Ok(None) => Err(PollProblem::KeyRejected(format!(
                        "the keyring has no key for {id}: store it with `redline keys rotate {id}`"
                    ))),
                    Err(err) => Err(PollProblem::NoData(err.to_string())),
                };
                (id, secret)
            })
            .collect()
    })
    .await
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
            Err(problem) => {
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

/// Live monitoring of every account in a config: usage polls plus the proxy's traffic.
pub struct Monitor {
    status: watch::Receiver<Status>,
    pollers: BTreeMap<AccountId, Poller>,
    aggregator: tokio::task::JoinHandle<()>,
}

impl Drop for Monitor {
    fn drop(&mut self) {
        self.aggregator.abort();
    }
}

impl Monitor {
    /// Starts a poller for every account that has a secret.
    pub fn start(
        config: Config,
        secrets: Secrets,
        client: HttpClient,
        traffic: Arc<Traffic>,
    ) -> Monitor {
        let interval = Duration::from_secs(config.poll.interval_s);
        let mut observed: BTreeMap<AccountId, Observed> = BTreeMap::new();
        let mut pollers = BTreeMap::new();
        let (reports_tx, reports_rx) = mpsc::unbounded_channel();
        for (id, secret) in secrets {
            let account = config.accounts[&id].clone();
            match secret {
                Ok(secret) => {
                    let adapter = provider(account.provider);
                    let schedule = Schedule::every(interval.max(adapter.min_poll_interval()));
                    let target = target(adapter, account.base_url.as_deref());
                    let source = HttpSource {
                        client: client.clone(),
                        account,
                        target,
                        secret,
                    };
                    let poller = Poller::spawn(Arc::new(source), schedule);
                    forward(id.clone(), poller.subscribe(), reports_tx.clone());
                    pollers.insert(id, poller);
                }
                Err(problem) => {
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
        let mut shown = BTreeMap::new();
        let first = build(
            &config,
            &with_traffic(&observed, &traffic),
            &mut shown,
            Timestamp::now(),
        );
        let (status_tx, status) = watch::channel(first);
        let state = Aggregate {
            config,
            observed,
            shown,
            traffic,
        };
        let aggregator = tokio::spawn(state.run(reports_rx, status_tx));
        Monitor {
            status,
            pollers,
            aggregator,
        }
    }

    /// The latest status; `changed()` on it wakes on every change.
    pub fn status(&self) -> watch::Receiver<Status> {
        self.status.clone()
    }

    /// Polls every account now and returns when each has answered (coalescing with polls
    /// already in progress).
    pub async fn refresh_all(&self) {
        futures_util::future::join_all(self.pollers.values().map(Poller::refresh)).await;
    }
}

fn forward(
    id: AccountId,
    mut reports: watch::Receiver<PollReport>,
    to: mpsc::UnboundedSender<(AccountId, PollResult)>,
) {
    tokio::spawn(async move {
        while reports.changed().await.is_ok() {
            let result = reports.borrow_and_update().result.clone();
            if let Some(result) = result
                && to.send((id.clone(), result)).is_err()
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
        let summary = traffic.summary(id);
        let proxied =
            summary.requests_per_minute > 0 || summary.peak > 0 || !summary.by_status.is_empty();
        seen.in_flight = proxied.then_some(summary.in_flight);
        seen.peak = proxied.then_some(summary.peak);
        seen.throttles = traffic.throttles(id);
        seen.header_windows = summary.windows;
    }
    merged
}

struct Aggregate {
    config: Config,
    observed: BTreeMap<AccountId, Observed>,
    shown: BTreeMap<AccountId, Shown>,
    traffic: Arc<Traffic>,
}

impl Aggregate {
    /// Rebuilds the status on every poll report and every traffic change.
    async fn run(
        mut self,
        mut reports: mpsc::UnboundedReceiver<(AccountId, PollResult)>,
        status: watch::Sender<Status>,
    ) {
        for id in self.config.accounts.keys() {
            self.observed.entry(id.clone()).or_default();
        }
        let mut traffic_changes = self.traffic.subscribe();
        let mut polling = true;
        loop {
            tokio::select! {
                report = reports.recv(), if polling => match report {
                    Some((id, result)) => observe(self.observed.entry(id).or_default(), &result, Timestamp::now()),
                    None => {
                        polling = false;
                        continue;
                    }
                },
                changed = traffic_changes.changed() => if changed.is_err() { return },
            }
            let observed = with_traffic(&self.observed, &self.traffic);
            let next = build(&self.config, &observed, &mut self.shown, Timestamp::now());
            // Only a change in what is shown wakes the views.
            status.send_if_modified(|current| {
                let changed = current.level != next.level || current.accounts != next.accounts;
                if changed {
                    *current = next;
                }
                changed
            });
        }
    }
}
