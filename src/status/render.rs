//! The status in words: `redline status` as text, as one line for bars and prompts, and as
//! Waybar's JSON. Levels and figures come from the `Status`; nothing here judges.

use super::health::{Level, concurrency_ceiling};
use super::model::{AccountStatus, KeyUse, KeyUseKind, Status, WindowStatus};
use crate::durations::time_until;
use crate::providers::snapshot::Unit;
use jiff::Timestamp;

impl WindowStatus {
    /// `5h 38% used (38/100 requests), resets in 1h 12m`.
    pub fn describe(&self, now: Timestamp) -> String {
        let name = match &self.scope {
            Some(scope) => format!("{} ({scope})", self.kind.short_label()),
            None => self.kind.short_label().to_owned(),
        };
        let percent = self
            .used_ratio
            .map(|r| format!("{:.0}% used", r * 100.0))
            .unwrap_or_else(|| "usage unknown".into());
        let counts = match (self.used, self.limit, self.unit) {
            (_, _, Unit::Percent) => String::new(),
            (Some(used), Some(limit), unit) => {
                format!(" ({}/{} {})", number(used), number(limit), unit_name(unit))
            }
            (None, Some(limit), unit) => format!(" (limit {} {})", number(limit), unit_name(unit)),
            _ => String::new(),
        };
        let reset = time_until(self.resets_at, now)
            .map(|left| format!(", resets in {left}"))
            .unwrap_or_default();
        format!("{name} {percent}{counts}{reset}")
    }
}

fn number(value: f64) -> String {
    if value.fract() == 0.0 {
        format!("{value:.0}")
    } else {
        format!("{value:.2}")
    }
}

fn unit_name(unit: Unit) -> &'static str {
    match unit {
        Unit::Requests => "requests",
        Unit::Tokens => "tokens",
        Unit::Percent => "%",
        Unit::Usd => "USD",
        Unit::Cny => "CNY",
    }
}

fn level_word(level: Level) -> &'static str {
    match level {
        Level::Ok => "OK",
        Level::Warn => "WARNING",
        Level::Critical => "CRITICAL",
        Level::Unknown => "UNKNOWN",
    }
}

/// The human rendering of `redline status`.
pub fn render_text(status: &Status, now: Timestamp) -> String {
    if status.accounts.is_empty() {
        return "No keys yet. Add one with: redline keys add ID --provider PROVIDER < key.txt\n"
            .into();
    }
    let mut out = format!("Redline: {}\n", level_word(status.level));
    for account in &status.accounts {
        out.push_str(&format!(
            "\n{} — {}\n",
            account.title(),
            level_word(account.level)
        ));
        if let Some(plan) = &account.plan {
            out.push_str(&format!("  plan {plan}\n"));
        }
        for window in &account.windows {
            out.push_str(&format!("  {}\n", window.describe(now)));
        }
        for balance in &account.balances {
            out.push_str(&format!(
                "  {} balance {:.2} {}\n",
                balance.kind, balance.amount, balance.currency
            ));
        }
        let c = &account.concurrency;
        let bounds = match (c.cap, c.limit) {
            (Some(cap), Some(limit)) => format!(" / cap {cap} (provider limit {limit})"),
            (Some(cap), None) => format!(" / cap {cap}"),
            (None, Some(limit)) => format!(" / {limit}"),
            (None, None) => String::new(),
        };
        let queued = match c.queued {
            Some(queued) if queued > 0 => format!(", {queued} queued"),
            _ => String::new(),
        };
        match (c.in_flight, c.limit) {
            (Some(in_flight), _) if !bounds.is_empty() || !queued.is_empty() => {
                out.push_str(&format!("  in flight {in_flight}{bounds}{queued}\n"))
            }
            (None, Some(limit)) => {
                out.push_str(&format!("  concurrency limit {limit} requests in flight\n"))
            }
            _ => {}
        }
        if let Some(last) = &account.throttles.last {
            out.push_str(&format!(
                "  last throttle: HTTP {} {} — {}\n",
                last.status,
                last.cause.describe(),
                last.advice
            ));
        }
        for reason in account
            .reasons
            .iter()
            .filter(|r| r.level != Level::Ok || r.code == "key_old")
        {
            let mark = if reason.level == Level::Ok {
                "note"
            } else {
                level_word(reason.level)
            };
            out.push_str(&format!("  {mark}: {}\n", reason.message));
        }
        if let Some(uses) = &account.key.used_by {
            out.push_str(&describe_key_uses(uses));
        }
    }
    out.push_str(&describe_surroundings(status));
    out
}

/// `  used by: OpenClaw (~/.openclaw/openclaw.json) OLD KEY, Shell ($KIMI_API_KEY)`.
fn describe_key_uses(uses: &[KeyUse]) -> String {
    if uses.is_empty() {
        return String::new();
    }
    let items: Vec<String> = uses
        .iter()
        .map(|u| {
            let how = match u.key {
                KeyUseKind::Current => "",
                KeyUseKind::Previous => " OLD KEY: give it the new one or point it at Redline",
                KeyUseKind::Proxy => " through Redline",
            };
            format!("{} ({}){how}", u.tool, u.source)
        })
        .collect();
    format!("  used by: {}\n", items.join(", "))
}

/// The running agents and Redline's own footprint, when known.
fn describe_surroundings(status: &Status) -> String {
    let mut out = String::new();
    if !status.agents.is_empty() {
        let agents: Vec<String> = status
            .agents
            .iter()
            .map(|a| format!("{} (pid {})", a.tool, a.pid))
            .collect();
        out.push_str(&format!("\nAgents running: {}\n", agents.join(", ")));
    }
    if let Some(p) = status.process {
        out.push_str(&format!(
            "Redline: {:.1} MiB resident, {:.1}% CPU\n",
            p.rss_bytes as f64 / (1024.0 * 1024.0),
            p.cpu_percent
        ));
    }
    out
}

/// One short plain line for tmux, Polybar and shell prompts (`redline status --line`):
/// `kimi-main 62% ▲27/30 | oai 12%`, prefixed with `WARN ` or `CRIT ` (or `? ` when nothing
/// is known yet) unless every account is ok. Per account: the most used window's percentage
/// (`?` when unknown), `▲in-flight/limit` while the proxy sees traffic, and `429` instead of
/// the percentage while throttled. The format is stable: scripts may parse it.
pub fn render_line(status: &Status) -> String {
    if status.accounts.is_empty() {
        return "redline: no keys".into();
    }
    let accounts: Vec<String> = status
        .accounts
        .iter()
        .map(|a| {
            let usage = if a.throttling_now() {
                "429".to_owned()
            } else {
                a.busiest_window()
                    .and_then(|w| w.used_ratio)
                    .map(|r| format!("{:.0}%", r * 100.0))
                    .unwrap_or_else(|| "?".into())
            };
            let ceiling = concurrency_ceiling(a.concurrency.cap, a.concurrency.limit);
            let flight = match (a.concurrency.in_flight, ceiling) {
                (Some(n), Some(limit)) => format!(" ▲{n}/{limit}"),
                (Some(n), None) => format!(" ▲{n}"),
                _ => String::new(),
            };
            format!("{} {usage}{flight}", a.id)
        })
        .collect();
    let prefix = match status.level {
        Level::Ok => "",
        Level::Warn => "WARN ",
        Level::Critical => "CRIT ",
        Level::Unknown => "? ",
    };
    format!("{prefix}{}", accounts.join(" | "))
}

/// Waybar custom-module JSON: `text`, `tooltip`, `class`, `percentage`.
pub fn render_waybar(status: &Status, now: Timestamp) -> serde_json::Value {
    let busiest = status
        .accounts
        .iter()
        .filter_map(|a| a.busiest_window().and_then(|w| w.used_ratio))
        .fold(None, |max: Option<f64>, r| {
            Some(max.map_or(r, |m| m.max(r)))
        });
    let text = if status.accounts.iter().any(AccountStatus::throttling_now) {
        "429".to_owned()
    } else {
        busiest
            .map(|r| format!("{:.0}%", r * 100.0))
            .unwrap_or_else(|| "?".into())
    };
    let tooltip = render_text(status, now).trim_end().to_owned();
    serde_json::json!({
        "text": text,
        "tooltip": tooltip,
        "class": status.level.as_str(),
        "percentage": busiest.map(|r| (r * 100.0).round().min(100.0) as u64).unwrap_or(0),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::keys::account_id::AccountId;
    use crate::status::model::build;
    use crate::status::model::tests::{config_with, now, observed};
    use std::collections::BTreeMap;

    #[test]
    fn text_and_waybar_renderings() {
        let config = config_with("kimi-main", "kimi-code");
        let id: AccountId = "kimi-main".parse().unwrap();
        let status = build(
            &config,
            &BTreeMap::from([(id, observed(96.0))]),
            &mut BTreeMap::new(),
            now(),
        );
        let text = render_text(&status, now());
        assert!(text.starts_with("Redline: CRITICAL\n"), "{text}");
        assert!(text.contains("Kimi Code (kimi-main) — CRITICAL"), "{text}");
        assert!(
            text.contains("5h 96% used (96/100 requests), resets in 1h 12m"),
            "{text}"
        );
        assert!(text.contains("CRITICAL: 5h window 96% used"), "{text}");
        let waybar = render_waybar(&status, now());
        assert_eq!(waybar["text"], "96%");
        assert_eq!(waybar["class"], "critical");
        assert_eq!(waybar["percentage"], 96);
        assert!(waybar["tooltip"].as_str().unwrap().contains("kimi-main"));
    }

    #[test]
    fn one_line_rendering_for_bars_and_prompts() {
        let config = Config::parse(
            "[accounts.kimi-main]\nprovider = \"kimi-code\"\n[accounts.oai]\nprovider = \"openai\"\n",
        )
        .unwrap();
        let kimi: AccountId = "kimi-main".parse().unwrap();
        let mut busy = observed(62.0);
        busy.in_flight = Some(27);
        let status = build(
            &config,
            &BTreeMap::from([(kimi.clone(), busy)]),
            &mut BTreeMap::new(),
            now(),
        );
        // 27 of 30 in flight is a warning; oai has no data yet.
        assert_eq!(render_line(&status), "WARN kimi-main 62% ▲27/30 | oai ?");
        let unknown = build(&config, &BTreeMap::new(), &mut BTreeMap::new(), now());
        assert_eq!(render_line(&unknown), "? kimi-main ? | oai ?");

        let only_kimi = config_with("kimi-main", "kimi-code");
        let warn = build(
            &only_kimi,
            &BTreeMap::from([(kimi.clone(), observed(85.0))]),
            &mut BTreeMap::new(),
            now(),
        );
        assert_eq!(render_line(&warn), "WARN kimi-main 85%");
        let ok = build(
            &only_kimi,
            &BTreeMap::from([(kimi, observed(10.0))]),
            &mut BTreeMap::new(),
            now(),
        );
        assert_eq!(render_line(&ok), "kimi-main 10%");
        let empty = build(
            &Config::default(),
            &BTreeMap::new(),
            &mut BTreeMap::new(),
            now(),
        );
        assert_eq!(render_line(&empty), "redline: no keys");
        assert!(!render_line(&ok).contains('\n'));
    }
}
