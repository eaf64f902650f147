//! Where an account's key may be sent. An account's base URL decides where its key goes, so
//! changing it is guarded:
//!
//! - a loopback host (a local gateway; the tests' fake providers) is always allowed;
//! - any other host needs https (`config::validate_base_url` refuses plain http);
//! - a host the provider does not own needs an explicit confirmation that names it
//!   (`--confirm-host HOST` in the CLI, `"confirm_host": "HOST"` in the API, a question in the
//!   dashboard), so that nobody can redirect a key by changing one setting.
//!
//! Pure functions; the CLI, the API and the key lifecycle call [`check`].

use crate::error::Error;
use crate::providers::{ProviderId, provider};

/// The host of `url` (no port; an IPv6 address in brackets), lowercased.
pub fn host_of(url: &str) -> Option<String> {
    let url = url::Url::parse(url).ok()?;
    url.host_str()
        .filter(|h| !h.is_empty())
        .map(str::to_ascii_lowercase)
}

/// `localhost`, `127.x.x.x` or `::1` (with or without brackets).
pub fn is_loopback_host(host: &str) -> bool {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    bare.eq_ignore_ascii_case("localhost")
        || bare
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Domains a cloud shares among all its customers (anyone can have a bucket or an app under
/// them): a provider's host there is its own, the domain is not. DashScope's
/// `dashscope.aliyuncs.com` must not make `*.aliyuncs.com` (every OSS bucket) DashScope's.
const SHARED_CLOUD_DOMAINS: &[&str] = &["aliyuncs.com", "azure.com", "volces.com"];

/// Whether `host` is one of the provider's own: a host of its API or usage URLs, or a name
/// under the same domain (`api.moonshot.cn` makes `*.moonshot.cn` the provider's), unless that
/// domain is a cloud's shared one ([`SHARED_CLOUD_DOMAINS`]).
pub fn provider_owns(id: ProviderId, host: &str) -> bool {
    let host = host.to_ascii_lowercase();
    provider(id)
        .regions()
        .iter()
        .flat_map(|region| [region.api_base, region.usage_url])
        .filter_map(host_of)
        .any(|known| {
            let domain = match known.split('.').count() {
                0..=2 => known.as_str(),
                _ => known.split_once('.').map_or(known.as_str(), |(_, d)| d),
            };
            let shared = SHARED_CLOUD_DOMAINS.contains(&domain);
            host == known || (!shared && (host == domain || host.ends_with(&format!(".{domain}"))))
        })
}

/// Refuses a base URL whose host is neither loopback nor the provider's, unless `confirmed`
/// names exactly that host.
pub fn check(id: ProviderId, base_url: &str, confirmed: Option<&str>) -> Result<(), Error> {
    let Some(host) = host_of(base_url) else {
        // Not a URL: the URL validation says why.
        return Ok(());
    };
    if is_loopback_host(&host) || provider_owns(id, &host) {
        return Ok(());
    }
    let confirmed = confirmed.map(|c| c.trim().trim_end_matches('.').to_ascii_lowercase());
    if confirmed.as_deref() == Some(host.as_str()) {
        return Ok(());
    }
    Err(Error::HostNotConfirmed {
        host,
        provider: id.display_name(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_providers_own_hosts_pass() {
        let owned = [
            (ProviderId::KimiCode, "https://api.kimi.com/coding/v1"),
            (ProviderId::Moonshot, "https://api.moonshot.cn/v1"),
            (ProviderId::Moonshot, "https://platform.moonshot.ai/v1"),
            (ProviderId::Openai, "https://eu.api.openai.com/v1"),
            (ProviderId::Openrouter, "https://openrouter.ai/api/v1"),
            (
                ProviderId::Zai,
                "https://open.bigmodel.cn/api/coding/paas/v4",
            ),
            (ProviderId::Minimax, "https://api.minimaxi.com/v1"),
            (ProviderId::Claude, "https://API.ANTHROPIC.COM"),
        ];
        for (id, url) in owned {
            assert!(check(id, url, None).is_ok(), "{id} {url}");
        }
    }

    #[test]
    fn a_providers_host_on_a_shared_cloud_domain_owns_only_itself() {
        for (id, url) in [
            (
                ProviderId::Dashscope,
                "https://dashscope.aliyuncs.com/compatible-mode/v1",
            ),
            (
                ProviderId::Dashscope,
                "https://dashscope-intl.aliyuncs.com/compatible-mode/v1",
            ),
            (
                ProviderId::DashscopeCoding,
                "https://coding-intl.dashscope.aliyuncs.com/v1",
            ),
            (
                ProviderId::VolcengineArk,
                "https://ark.cn-beijing.volces.com/api/v3",
            ),
            // Every Azure OpenAI resource is a host under openai.azure.com.
            (ProviderId::AzureOpenai, "https://my-team.openai.azure.com"),
        ] {
            assert!(check(id, url, None).is_ok(), "{id} {url}");
        }
        for (id, url) in [
            (
                ProviderId::Dashscope,
                "https://attacker.oss-cn-hangzhou.aliyuncs.com",
            ),
            (ProviderId::Dashscope, "https://aliyuncs.com"),
            (
                ProviderId::AzureOpenai,
                "https://attacker.blob.core.windows.net",
            ),
            (
                ProviderId::AzureOpenai,
                "https://attacker.azurewebsites.azure.com",
            ),
        ] {
            assert!(check(id, url, None).is_err(), "{id} {url}");
        }
    }

    #[test]
    fn loopback_passes_without_confirmation() {
        for url in [
            "http://127.0.0.1:4301/v1",
            "http://localhost:8080",
            "http://[::1]:9000/v1",
            "http://127.5.5.5",
        ] {
            assert!(check(ProviderId::KimiCode, url, None).is_ok(), "{url}");
        }
    }

    #[test]
    fn foreign_hosts_need_that_host_confirmed() {
        let url = "https://gateway.example/kimi/v1";
        let err = check(ProviderId::KimiCode, url, None).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("gateway.example") && text.contains("--confirm-host gateway.example"),
            "{text}"
        );
        assert!(check(ProviderId::KimiCode, url, Some("Gateway.Example")).is_ok());
        assert!(check(ProviderId::KimiCode, url, Some("other.example")).is_err());
        // Look-alikes are not the provider's.
        for url in [
            "https://kimi.com.evil.example",
            "https://evilkimi.com",
            "https://api.openai.com.evil.example",
            "https://192.168.1.10:8443",
        ] {
            assert!(check(ProviderId::KimiCode, url, None).is_err(), "{url}");
        }
        // Another provider's host is foreign too.
        assert!(check(ProviderId::KimiCode, "https://api.openai.com/v1", None).is_err());
    }
}
