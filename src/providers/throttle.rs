//! Why a provider refused a request, and what the user should do about it.
//!
//! Each provider's `classify` (in `providers/`) turns (status, headers, body) into a
//! [`Classification`]; the wire helpers it uses (Retry-After, numbers in messages, error bodies)
//! are in `providers/wire.rs`. Here: the causes and the advice sentences that name them.

use crate::keys::secret::redact_keys;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// The cause of a refusal (docs/architecture.md, "Throttle causes").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Cause {
    /// Too many requests in flight at once.
    Concurrency,
    Rpm,
    Tpm,
    Tpd,
    /// A quota window (5-hour, weekly, monthly, credits) is used up.
    QuotaExhausted,
    /// A spend limit the user or organisation set is reached.
    SpendCap,
    /// The provider is overloaded; not the user's fault.
    Overloaded,
    /// The key is wrong, revoked or for another product.
    AuthInvalid,
    /// The key is fine but this client (User-Agent, region, model) is not allowed.
    ClientRejected,
    Other,
}

impl Cause {
    pub const ALL: [Cause; 10] = [
        Cause::Concurrency,
        Cause::Rpm,
        Cause::Tpm,
        Cause::Tpd,
        Cause::QuotaExhausted,
        Cause::SpendCap,
        Cause::Overloaded,
        Cause::AuthInvalid,
        Cause::ClientRejected,
        Cause::Other,
    ];

    /// The snake_case name used in JSON, metrics and the CLI.
    pub fn as_str(self) -> &'static str {
        match self {
            Cause::Concurrency => "concurrency",
            Cause::Rpm => "rpm",
            Cause::Tpm => "tpm",
            Cause::Tpd => "tpd",
            Cause::QuotaExhausted => "quota_exhausted",
            Cause::SpendCap => "spend_cap",
            Cause::Overloaded => "overloaded",
            Cause::AuthInvalid => "auth_invalid",
            Cause::ClientRejected => "client_rejected",
            Cause::Other => "other",
        }
    }

    /// Whether waiting and sending the same request again usually succeeds.
    pub fn retry_helps(self) -> bool {
        matches!(
            self,
            Cause::Concurrency | Cause::Rpm | Cause::Tpm | Cause::Overloaded | Cause::Other
        )
    }

    /// Plain words for a person: "concurrency limit", "quota used up".
    pub fn describe(self) -> &'static str {
        match self {
            Cause::Concurrency => "concurrency limit",
            Cause::Rpm => "requests-per-minute limit",
            Cause::Tpm => "tokens-per-minute limit",
            Cause::Tpd => "tokens-per-day limit",
            Cause::QuotaExhausted => "quota used up",
            Cause::SpendCap => "spend limit reached",
            Cause::Overloaded => "provider overloaded",
            Cause::AuthInvalid => "key rejected",
            Cause::ClientRejected => "client not allowed",
            Cause::Other => "refused",
        }
    }
}

/// A classified refusal.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Classification {
    pub cause: Cause,
    /// How long to wait before retrying, when the provider said (header or message text).
    pub retry_after: Option<Duration>,
    /// Whether waiting and retrying the same request can succeed.
    pub retryable: bool,
    /// One sentence for the user: the cause, then what to do.
    pub advice: String,
    /// The provider's own message (shortened), for the curious.
    pub message: String,
    /// The limit the provider named, when it did ("max concurrency: 30").
    pub limit: Option<u64>,
}

impl Classification {
    /// A classification with the standard advice for `cause`.
    pub fn new(cause: Cause, message: &str) -> Classification {
        Classification {
            cause,
            retry_after: None,
            retryable: default_retryable(cause),
            advice: advice(cause, None),
            message: shorten(message),
            limit: None,
        }
    }

    /// Records the limit the provider named, and refreshes the advice to mention it.
    pub fn with_limit(mut self, limit: Option<u64>) -> Classification {
        self.limit = limit;
        self.advice = advice(self.cause, limit);
        self
    }

    pub fn with_retry_after(mut self, retry_after: Option<Duration>) -> Classification {
        self.retry_after = retry_after;
        self
    }

    pub fn retryable(mut self, retryable: bool) -> Classification {
        self.retryable = retryable;
        self
    }

    /// Replaces the advice with provider-specific words.
    pub fn with_advice(mut self, advice: impl Into<String>) -> Classification {
        self.advice = advice.into();
        self
    }

    /// A refusal met through Redline's proxy while it caps the account at `cap` requests at
    /// once (0 = no cap): the standard concurrency advice, which suggests the queue, says
    /// instead what helps when the queue is already on. A provider's own words are kept.
    pub fn under_cap(mut self, cap: u64) -> Classification {
        if cap > 0
            && self.cause == Cause::Concurrency
            && self.advice == advice(self.cause, self.limit)
        {
            self.advice = capped_concurrency_advice(self.limit, cap);
        }
        self
    }
}

fn default_retryable(cause: Cause) -> bool {
    cause.retry_helps()
}

/// The standard advice sentence for a cause. It names no retry time: that is `retry_after`,
/// which each view words once, counting down from when the refusal happened.
pub fn advice(cause: Cause, limit: Option<u64>) -> String {
    let limit_text = |what: &str| match limit {
        Some(n) => format!("{what} {n} reached"),
        None => format!("{what} reached"),
    };
    match cause {
        Cause::Concurrency => format!(
            "{}; your quota is fine. Lower parallel agents or enable Redline's queue.",
            limit_text("Concurrency limit")
        ),
        Cause::Rpm => format!(
            "{}. Slow down or spread requests over the minute.",
            limit_text("Requests-per-minute limit")
        ),
        Cause::Tpm => format!(
            "{}. Send smaller prompts or fewer at once.",
            limit_text("Tokens-per-minute limit")
        ),
        Cause::Tpd => format!(
            "{}. Wait for the daily reset or use another key.",
            limit_text("Tokens-per-day limit")
        ),
        Cause::QuotaExhausted => {
            "Quota used up; retrying will not help. Wait for the window to reset, top up, or switch keys.".into()
        }
        Cause::SpendCap => {
            "Spend limit reached; retrying will not help. Raise the limit in the provider's console or wait for it to reset.".into()
        }
        Cause::Overloaded => {
            "The provider is overloaded; this is not your quota. Retry shortly.".into()
        }
        Cause::AuthInvalid => {
            "Key rejected: it is wrong, revoked or for another product. Check it, then `redline keys rotate`.".into()
        }
        Cause::ClientRejected => {
            "The key is fine but this client was refused (tool identity, region or model). Use a supported tool or check the plan's terms.".into()
        }
        Cause::Other => "The provider refused the request.".into(),
    }
}

/// What to do about a concurrency refusal when Redline's queue already holds the account to
/// `cap` requests at once: the provider counts more than Redline lets through, so either the
/// cap is not below its limit or something else uses the key too.
pub fn capped_concurrency_advice(limit: Option<u64>, cap: u64) -> String {
    let reached = match limit {
        Some(n) => format!("Concurrency limit {n} reached; your quota is fine."),
        None => "Concurrency limit reached; your quota is fine.".to_owned(),
    };
    let what_helps = match limit {
        Some(n) if cap < n => format!(
            "Redline's queue is on (cap {cap}, below the limit), so something else uses this \
             key at the same time: run fewer agents, or lower the cap further."
        ),
        Some(n) => format!(
            "Redline's queue is on (cap {cap}): lower the cap below the provider's limit of \
             {n}, or run fewer agents."
        ),
        None => format!(
            "Redline's queue is on (cap {cap}): lower the cap below the provider's limit, or \
             run fewer agents."
        ),
    };
    format!("{reached} {what_helps}")
}

/// Messages are shown in one line of a tray menu or notification. Keys quoted in them are cut
/// to their fingerprints first: cutting the line could leave a key's first characters too few
/// to look like a key any more.
fn shorten(message: &str) -> String {
    let one_line = redact_keys(&message.split_whitespace().collect::<Vec<_>>().join(" "));
    if one_line.chars().count() <= 300 {
        one_line
    } else {
        one_line.chars().take(299).chain(['…']).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advice_names_the_cause_and_limit_but_leaves_the_wait_to_retry_after() {
        let c = Classification::new(Cause::Concurrency, "x")
            .with_limit(Some(30))
            .with_retry_after(Some(Duration::from_secs(3)));
        assert_eq!(
            c.advice,
            "Concurrency limit 30 reached; your quota is fine. Lower parallel agents or enable Redline's queue."
        );
        assert_eq!(c.retry_after, Some(Duration::from_secs(3)));
        assert!(c.retryable);
        assert!(!Classification::new(Cause::QuotaExhausted, "x").retryable);
    }

    #[test]
    fn a_key_at_the_cut_of_a_long_message_is_not_left_half_shown() {
        // Found by providers/props.rs: the message was cut to 300 characters before keys were
        // masked, so a key across the cut left its first 12 characters, too few to be masked.
        let key = "sk-kimi-rYmrTOk7o0qL4upRElq1dBWSXTgZzJBsc4Ui62";
        let message = format!("{} Incorrect API key provided: {key}.", "word ".repeat(50));
        let shown = Classification::new(Cause::AuthInvalid, &message).message;
        assert!(!shown.contains("sk-kimi-rYmr"), "{shown}");
        assert!(shown.contains("sk-kimi-…Ui62"), "{shown}");
    }

    #[test]
    fn concurrency_advice_under_a_cap_says_what_helps_instead_of_the_queue() {
        let refused = |limit| Classification::new(Cause::Concurrency, "x").with_limit(limit);
        assert_eq!(
            refused(Some(30)).under_cap(0).advice,
            "Concurrency limit 30 reached; your quota is fine. Lower parallel agents or enable \
             Redline's queue.",
            "no cap: the queue is what helps"
        );
        assert_eq!(
            refused(Some(30)).under_cap(30).advice,
            "Concurrency limit 30 reached; your quota is fine. Redline's queue is on (cap 30): \
             lower the cap below the provider's limit of 30, or run fewer agents."
        );
        assert_eq!(
            refused(None).under_cap(4).advice,
            "Concurrency limit reached; your quota is fine. Redline's queue is on (cap 4): lower \
             the cap below the provider's limit, or run fewer agents."
        );
        assert_eq!(
            refused(Some(30)).under_cap(20).advice,
            "Concurrency limit 30 reached; your quota is fine. Redline's queue is on (cap 20, \
             below the limit), so something else uses this key at the same time: run fewer \
             agents, or lower the cap further."
        );
        for capped in [refused(Some(30)), refused(None)].map(|c| c.under_cap(2)) {
            assert!(
                !capped.advice.contains("enable Redline's queue"),
                "{}",
                capped.advice
            );
        }
        // Other causes, and a provider's own words, are left as they were.
        let rpm = Classification::new(Cause::Rpm, "x");
        assert_eq!(rpm.clone().under_cap(5), rpm);
        let own = refused(None).with_advice("Kimi says: wait.");
        assert_eq!(own.clone().under_cap(5), own);
    }
}
