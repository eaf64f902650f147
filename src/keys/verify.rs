//! Checking a key with its provider before it is stored (`keys add`, `keys rotate`) and on
//! `keys test`: valid, rejected, for another product, for another region, or unreachable.

use crate::keys::secret::Secret;
use crate::keys::secret::redact_keys;
use crate::poll::fetch::HttpClient;
use crate::poll::usage::{PollError, Target, other_regions, poll_once, target};
use crate::providers::snapshot::Snapshot;
use crate::providers::{ProviderId, provider};

#[derive(Clone, Debug, PartialEq)]
pub enum Verdict {
    Valid(Snapshot),
    /// The provider refused the key: wrong, revoked, or for another product.
    Rejected(String),
    /// The key works, but on another region's host.
    WrongRegion(String),
    /// The provider could not be reached or did not answer usefully; the key may be fine.
    /// `answer_fields` names the fields of an answer of unknown shape.
    Inconclusive {
        message: String,
        answer_fields: Vec<String>,
    },
}

impl Verdict {
    pub fn is_valid(&self) -> bool {
        matches!(self, Verdict::Valid(_))
    }

    /// One sentence for the user, saying what to do.
    pub fn message(&self) -> String {
        match self {
            Verdict::Valid(_) => "the provider accepted the key".into(),
            Verdict::Rejected(text)
            | Verdict::WrongRegion(text)
            | Verdict::Inconclusive { message: text, .. } => redact_keys(text),
        }
    }

    /// The field names of a usage answer Redline could not read (never values); empty
    /// otherwise.
    pub fn answer_fields(&self) -> &[String] {
        match self {
            Verdict::Inconclusive { answer_fields, .. } => answer_fields,
            _ => &[],
        }
    }
}

pub async fn verify(
    client: &HttpClient,
    id: ProviderId,
    base_url: Option<&str>,
    secret: &Secret,
) -> Verdict {
    let adapter = provider(id);
    let here = target(adapter, base_url);
    let error = match poll_once(client, adapter, &here, secret).await {
        Ok(snapshot) => return Verdict::Valid(snapshot),
        Err(error) => error,
    };
    if !error.key_rejected() {
        return inconclusive(&error);
    }
    // A rejected key may belong to another region of the same provider…
    let on_default_hosts = base_url.is_none()
        || adapter
            .regions()
            .iter()
            .any(|r| r.usage_url == here.usage_url);
    if on_default_hosts {
        for other in other_regions(adapter, &here) {
            if poll_once(client, adapter, &other, secret).await.is_ok() {
                let base = other.region.api_base;
                return Verdict::WrongRegion(format!(
                    "this key belongs to the {} region of {}: add it with --base-url {base}",
                    other.region.name,
                    id.display_name()
                ));
            }
        }
    }
    // …or to a sibling product (a Moonshot platform key given as Kimi Code, and the reverse).
    if let Some(sibling) = id.facts().sibling {
        let sibling_adapter = provider(sibling);
        for region in sibling_adapter.regions() {
            let there = Target {
                region,
                usage_url: region.usage_url.to_owned(),
            };
            if poll_once(client, sibling_adapter, &there, secret)
                .await
                .is_ok()
            {
                return Verdict::Rejected(format!(
                    "this is a {} key, not a {} key: add it with --provider {sibling}",
                    sibling.display_name(),
                    id.display_name()
                ));
            }
        }
    }
    Verdict::Rejected(format!(
        "{} rejected the key: {}",
        id.display_name(),
        error.message()
    ))
}

fn inconclusive(error: &PollError) -> Verdict {
    let what = match error {
        PollError::Unreachable(text) => format!("{text}; check your network, proxy or --base-url"),
        other => other.message(),
    };
    Verdict::Inconclusive {
        message: format!(
            "could not check the key ({what}); try again, or pass --no-verify to store it unchecked"
        ),
        answer_fields: error.answer_fields().to_vec(),
    }
}
