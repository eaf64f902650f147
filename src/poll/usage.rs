//! One usage poll of one account: pick the URL, fetch it, and turn the answer into a snapshot
//! or a readable reason why not.

use crate::keys::secret::Secret;
use crate::poll::fetch::{FetchError, HttpClient, RawResponse};
use crate::providers::snapshot::Snapshot;
use crate::providers::throttle::{Cause, Classification};
use crate::providers::wire::{field_names, is_html, retry_after_header};
use crate::providers::{Provider, Region, UsageContext, UsageError};
use jiff::Timestamp;
use std::time::Duration;

/// Where to poll: the region, and the usage URL on the account's host.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    pub region: &'static Region,
    pub usage_url: String,
}

/// The usage URL for an account. Without an override, the provider's default region. With an
/// override on a known region's host, that region. On any other host (a gateway, a test fake),
/// the default region's usage path on that origin.
pub fn target(provider: &dyn Provider, base_url: Option<&str>) -> Target {
    let regions = provider.regions();
    let Some(base) = base_url.and_then(|b| url::Url::parse(b).ok()) else {
        return Target {
            region: &regions[0],
            usage_url: regions[0].usage_url.to_owned(),
        };
    };
    if let Some(region) = regions
        .iter()
        .find(|r| same_host(r.api_base, &base) || same_host(r.usage_url, &base))
    {
        return Target {
            region,
            usage_url: region.usage_url.to_owned(),
        };
    }
    let path = url::Url::parse(regions[0].usage_url)
        .map(|u| u.path().to_owned())
        .unwrap_or_default();
    Target {
        region: &regions[0],
        usage_url: format!("{}{path}", base.origin().ascii_serialization()),
    }
}

/// The targets of the provider's other regions, for "wrong region" checks.
pub fn other_regions(provider: &dyn Provider, current: &Target) -> Vec<Target> {
    provider
        .regions()
        .iter()
        .filter(|r| r.name != current.region.name)
        .map(|region| Target {
            region,
            usage_url: region.usage_url.to_owned(),
        })
        .collect()
}

fn same_host(known: &str, base: &url::Url) -> bool {
    url::Url::parse(known)
        .is_ok_and(|k| k.host_str() == base.host_str() && base.host_str().is_some())
}

/// Why a poll produced no snapshot.
#[derive(Clone, Debug, PartialEq)]
pub enum PollError {
    /// The provider answered with a refusal (bad key, wrong product, rate limit on the usage
    /// endpoint itself, overload).
    Refused {
        status: u16,
        classification: Classification,
    },
    /// The answer was not one Redline can read: an HTML error page, cut-off JSON.
    BadAnswer(String),
    /// JSON of a shape Redline does not know: the provider changed its answer. `fields` names
    /// what the answer holds (never the values), for the log and `keys test --json`.
    ChangedAnswer {
        host: String,
        what: String,
        fields: Vec<String>,
    },
    Unreachable(String),
}

impl PollError {
    /// How long the provider asked us to wait before polling again.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            PollError::Refused { classification, .. } => classification.retry_after,
            _ => None,
        }
    }

    /// Whether the key itself was refused (as opposed to the provider being unreachable).
    pub fn key_rejected(&self) -> bool {
        matches!(self, PollError::Refused { classification, .. } if classification.cause == Cause::AuthInvalid)
    }

    /// One line for a person.
    pub fn message(&self) -> String {
        match self {
            PollError::Refused {
                status,
                classification,
            } => {
                format!(
                    "HTTP {status}, {}: {}",
                    classification.cause.describe(),
                    classification.advice
                )
            }
            PollError::ChangedAnswer { host, what, .. } => format!(
                "{host} sent usage data Redline cannot read ({what}): the provider changed its \
                 answer, so Redline shows no figure rather than a wrong one"
            ),
            PollError::BadAnswer(text) | PollError::Unreachable(text) => text.clone(),
        }
    }

    /// The field names of an answer of unknown shape; empty for any other error.
    pub fn answer_fields(&self) -> &[String] {
        match self {
            PollError::ChangedAnswer { fields, .. } => fields,
            _ => &[],
        }
    }
}

/// Fetches and reads the usage URL once.
pub async fn poll_once(
    client: &HttpClient,
    provider: &dyn Provider,
    target: &Target,
    secret: &Secret,
) -> Result<Snapshot, PollError> {
    let get = async |url: &str| {
        client
            .get(url, provider.auth_style(), secret, provider.extra_headers())
            .await
            .map_err(fetch_error)
    };
    let response = get(&target.usage_url).await?;
    // A provider's older route on the same host, where the current one is not there yet.
    if response.status == 404
        && let Some(legacy) = provider
            .legacy_usage_path()
            .and_then(|path| same_origin(&target.usage_url, path))
    {
        let response = get(&legacy).await?;
        let legacy_target = Target {
            region: target.region,
            usage_url: legacy,
        };
        return read_answer(provider, &legacy_target, &response, Timestamp::now());
    }
    read_answer(provider, target, &response, Timestamp::now())
}

fn fetch_error(err: FetchError) -> PollError {
    match err {
        FetchError::TooLarge { .. } => PollError::BadAnswer(err.to_string()),
        other => PollError::Unreachable(other.to_string()),
    }
}

/// `path` on the origin of `url`.
fn same_origin(url: &str, path: &str) -> Option<String> {
    let url = url::Url::parse(url).ok()?;
    Some(format!("{}{path}", url.origin().ascii_serialization()))
}

/// Interprets a usage response. Pure, so every odd answer is a unit test.
pub fn read_answer(
    provider: &dyn Provider,
    target: &Target,
    response: &RawResponse,
    now: Timestamp,
) -> Result<Snapshot, PollError> {
    let RawResponse {
        status,
        headers,
        body,
    } = response;
    let status = *status;
    if !(200..300).contains(&status) {
        let mut classification = provider.classify(status, headers, body, now);
        if classification.retry_after.is_none() {
            classification = classification.with_retry_after(retry_after_header(headers, now));
        }
        if status == 404
            && let Some(hint) = provider.wrong_product_hint()
        {
            classification =
                Classification::new(Cause::AuthInvalid, &classification.message).with_advice(hint);
        }
        return Err(PollError::Refused {
            status,
            classification,
        });
    }
    if is_html(body) {
        return Err(PollError::BadAnswer(format!(
            "{} answered with a web page instead of usage data: is the base URL right?",
            host(&target.usage_url)
        )));
    }
    let context = UsageContext {
        now,
        region: target.region,
    };
    let mut snapshot = provider
        .parse_usage(body, &context)
        .map_err(|err| match err {
            UsageError::Refused(classification) => PollError::Refused {
                status,
                classification,
            },
            // Not JSON at all is a broken answer; JSON of another shape is a changed one.
            UsageError::Shape(what)
                if serde_json::from_slice::<serde_json::Value>(body).is_err() =>
            {
                PollError::BadAnswer(format!(
                    "{} sent usage data Redline cannot read ({what})",
                    host(&target.usage_url)
                ))
            }
            UsageError::Shape(what) => PollError::ChangedAnswer {
                host: host(&target.usage_url),
                what,
                fields: field_names(body),
            },
        })?;
    snapshot.add_missing_windows(provider.header_windows(headers, now));
    Ok(snapshot)
}

fn host(url: &str) -> String {
    url::Url::parse(url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned))
        .unwrap_or_else(|| url.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::{ProviderId, provider};

    #[test]
    fn targets_follow_the_base_url() {
        let moonshot = provider(ProviderId::Moonshot);
        assert_eq!(
            target(moonshot, None).usage_url,
            moonshot.regions()[0].usage_url
        );
        let cn = target(moonshot, Some("https://api.moonshot.cn/v1"));
        assert_eq!(cn.region.name, "cn");
        assert_eq!(cn.usage_url, "https://api.moonshot.cn/v1/users/me/balance");
        let fake = target(moonshot, Some("http://127.0.0.1:4321"));
        assert_eq!(fake.region.name, moonshot.regions()[0].name);
        assert_eq!(fake.usage_url, "http://127.0.0.1:4321/v1/users/me/balance");
        assert_eq!(
            other_regions(moonshot, &cn)[0].region.name,
            moonshot.regions()[0].name
        );
    }

    fn answer(status: u16, body: &str) -> RawResponse {
        RawResponse {
            status,
            headers: http::HeaderMap::new(),
            body: body.as_bytes().to_vec(),
        }
    }

    #[test]
    fn odd_answers_become_readable_errors() {
        let kimi = provider(ProviderId::KimiCode);
        let target = target(kimi, None);
        let now = Timestamp::now();
        let html = read_answer(
            kimi,
            &target,
            &answer(200, "<!DOCTYPE html><html>hi</html>"),
            now,
        );
        assert!(
            matches!(&html, Err(PollError::BadAnswer(m)) if m.contains("web page")),
            "{html:?}"
        );
        let truncated = read_answer(kimi, &target, &answer(200, r#"{"usage":{"limit":"10"#), now);
        assert!(
            matches!(&truncated, Err(PollError::BadAnswer(m)) if m.contains("cannot read")),
            "{truncated:?}"
        );
        let not_found =
            read_answer(kimi, &target, &answer(404, r#"{"error":"not found"}"#), now).unwrap_err();
        assert!(not_found.key_rejected());
        assert!(
            not_found.message().contains("HTTP 404"),
            "{}",
            not_found.message()
        );
    }
}
