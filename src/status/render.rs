//! The status in words: `redline status` as text, as one line for bars and prompts, and as
//! Waybar's JSON. Levels and figures come from the `Status`; nothing here judges.

use super::health::{Level, LimitSource, concurrency_ceiling};
use super::model::{
    AccountStatus, KeyUse, KeyUseKind, SharedStatus, Status, ToolTraffic, TrafficStatus,
    WindowStatus,
};
use crate::config::is_unsafe_text;
use crate::durations::time_until;
use crate::providers::snapshot::Unit;
use crate::proxy::traffic::TokenUsage;
use jiff::Timestamp;

impl WindowStatus {
    /// `5h 38% used (38/100 requests), resets in 1h 12m`.
    pub fn describe(&self, now: Timestamp) -> String {
        let name = self.kind.label_with(self.scope.as_deref());
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
        // Why it is doubtful is in the account's reasons (`window_doubtful`).
        let doubt = if self.doubtful.is_some() {
            " — doubtful"
        } else {
            ""
        };
        // What they are is in the account's reasons (`figures_disagree`).
        let disagree = if self.note.is_some() {
            " — the provider's figures disagree"
        } else {
            ""
        };
        format!("{name} {percent}{counts}{reset}{doubt}{disagree}")
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
        Unit::Credits => "credits",
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
        let source = match c.limit_source {
            Some(LimitSource::Assumed) => Some("assumed: the answer does not say"),
            Some(LimitSource::Observed) => Some("seen in refusals"),
            _ => None,
        };
        let bounds = match (c.cap, c.limit, source) {
            (Some(cap), Some(limit), Some(source)) => {
                format!(" / cap {cap} (provider limit {limit}, {source})")
            }
            (Some(cap), Some(limit), None) => format!(" / cap {cap} (provider limit {limit})"),
            (Some(cap), None, _) => format!(" / cap {cap}"),
            (None, Some(limit), Some(source)) => format!(" / {limit} ({source})"),
            (None, Some(limit), None) => format!(" / {limit}"),
            (None, None, _) => String::new(),
        };
        let queued = match c.queued {
            Some(queued) if queued > 0 => format!(", {queued} queued"),
            _ => String::new(),
        };
        let traffic = account.traffic.as_ref().filter(|t| has_traffic(t));
        let peak = match (c.peak, traffic) {
            (Some(peak), Some(_)) if peak > 0 => format!(", peak {peak} in 5 min"),
            _ => String::new(),
        };
        match (c.in_flight, c.limit) {
            (Some(in_flight), _)
                if !bounds.is_empty() || !queued.is_empty() || traffic.is_some() =>
            {
                out.push_str(&format!("  in flight {in_flight}{bounds}{queued}{peak}\n"))
            }
            (None, Some(limit)) => {
                let source = source.map(|s| format!(" ({s})")).unwrap_or_default();
                out.push_str(&format!(
                    "  concurrency limit {limit} requests in flight{source}\n"
                ))
            }
            _ => {}
        }
        if let Some(shared) = &account.shared {
            out.push_str(&format!(
                "  shared cap: {}\n",
                describe_shared(shared, account.concurrency.cap)
            ));
        }
        if let Some(traffic) = traffic {
            out.push_str(&describe_traffic(traffic));
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
    strip_controls(&out)
}

/// An account's cap shared with other machines, this machine beside the whole group:
/// `here 2 in flight, 1 queued · whole group 7/8 in flight, 3 queued, 3 machines`. While the
/// server is out of reach the group is unknown and this machine's cap alone applies.
pub fn describe_shared(shared: &SharedStatus, cap: Option<u64>) -> String {
    let of_cap = |n: u64| match cap {
        Some(cap) => format!("{n}/{cap}"),
        None => n.to_string(),
    };
    let mut here = format!("here {} in flight", shared.here_in_flight);
    if shared.here_queued > 0 {
        here.push_str(&format!(", {} queued", shared.here_queued));
    }
    if shared.state == "unavailable" {
        return format!(
            "{here} · whole group unknown (server out of reach: this machine's cap alone)"
        );
    }
    let group = match (shared.group_in_flight, shared.machines) {
        (Some(in_flight), machines) => {
            let mut group = format!("whole group {} in flight", of_cap(in_flight));
            match shared.group_queued {
                Some(queued) if queued > 0 => group.push_str(&format!(", {queued} queued")),
                _ => {}
            }
            if let Some(machines) = machines {
                group.push_str(&format!(", {}", plural(machines, "machine")));
            }
            group
        }
        (None, _) => "whole group not read yet".to_owned(),
    };
    format!("{here} · {group}")
}

/// Whether the proxy saw anything of the account worth a line: without the proxy in use there
/// is nothing, and nothing is printed.
pub fn has_traffic(t: &TrafficStatus) -> bool {
    t.figures.in_flight > 0
        || t.figures.queued > 0
        || t.figures.peak > 0
        || t.figures.requests.last_hour > 0
        || t.figures.errors.last_hour > 0
        || t.figures.cancelled.last_hour > 0
        || !t.figures.tokens.last_5h.is_zero()
        || !t.figures.tokens.today.is_zero()
}

/// The traffic block of one account, then one line per tool:
///
/// ```text
///   requests 40 in 5 min (2 errors), 300 in the hour (5 errors, 1 cancelled)
///   queue wait p50 120 ms, p95 900 ms
///   tokens in/out 1.2k/3.4k in 5 h, 30.5k/8.1k today
///   first token p50 450 ms, output 55 tokens/s p50
///   by tool:
///     Claude Code: 1 in flight, 4 queued; 300 requests in the hour (5 errors); tokens today 30/40; first token 450 ms, 55 tokens/s
/// ```
fn describe_traffic(t: &TrafficStatus) -> String {
    let mut out = format!(
        "  requests {} in 5 min{}, {} in the hour{}\n",
        t.figures.requests.last_5m,
        failures(t.figures.errors.last_5m, t.figures.cancelled.last_5m),
        t.figures.requests.last_hour,
        failures(t.figures.errors.last_hour, t.figures.cancelled.last_hour),
    );
    if let (Some(p50), Some(p95)) = (t.figures.queue_wait_ms.p50, t.figures.queue_wait_ms.p95) {
        out.push_str(&format!(
            "  queue wait p50 {}, p95 {}\n",
            millis(p50),
            millis(p95)
        ));
    }
    out.push_str(&format!(
        "  tokens in/out {} in 5 h, {} today\n",
        in_out(t.figures.tokens.last_5h),
        in_out(t.figures.tokens.today)
    ));
    if let Some(speed) = speed(
        t.figures.first_token_ms_p50,
        t.figures.output_tokens_per_s_p50,
    ) {
        out.push_str(&format!("  {speed}\n"));
    }
    if !t.figures.tools.is_empty() {
        out.push_str("  by tool:\n");
        for tool in &t.figures.tools {
            out.push_str(&format!("    {}\n", describe_tool(tool)));
        }
    }
    out
}

/// `Claude Code: 1 in flight, 4 queued; 300 requests in the hour (5 errors); tokens today
/// 30/40; first token p50 450 ms, output 55 tokens/s p50`.
pub fn describe_tool(tool: &ToolTraffic) -> String {
    let mut parts = Vec::new();
    let mut now = Vec::new();
    if tool.in_flight > 0 {
        now.push(format!("{} in flight", tool.in_flight));
    }
    if tool.queued > 0 {
        now.push(format!("{} queued", tool.queued));
    }
    if !now.is_empty() {
        parts.push(now.join(", "));
    }
    parts.push(format!(
        "{} in the hour{}",
        plural(tool.requests.last_hour, "request"),
        failures(tool.errors.last_hour, tool.cancelled.last_hour)
    ));
    parts.push(format!("tokens today {}", in_out(tool.tokens.today)));
    if let Some(speed) = speed(tool.first_token_ms_p50, tool.output_tokens_per_s_p50) {
        parts.push(speed);
    }
    format!("{}: {}", plain(&tool.tool), parts.join("; "))
}

/// ` (2 errors, 1 cancelled)`, or nothing when there were none.
fn failures(errors: u64, cancelled: u64) -> String {
    let mut parts = Vec::new();
    if errors > 0 {
        parts.push(plural(errors, "error"));
    }
    if cancelled > 0 {
        parts.push(format!("{cancelled} cancelled"));
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!(" ({})", parts.join(", "))
    }
}

fn plural(n: u64, word: &str) -> String {
    if n == 1 {
        format!("1 {word}")
    } else {
        format!("{n} {word}s")
    }
}

/// `first token p50 450 ms, output 55 tokens/s p50`, or what of it is known.
fn speed(first_token_ms: Option<f64>, tokens_per_s: Option<f64>) -> Option<String> {
    let parts: Vec<String> = [
        first_token_ms.map(|ms| format!("first token p50 {}", millis(ms))),
        tokens_per_s.map(|rate| format!("output {rate:.0} tokens/s p50")),
    ]
    .into_iter()
    .flatten()
    .collect();
    (!parts.is_empty()).then(|| parts.join(", "))
}

/// `450 ms`, `1.2 s`, `12 s`.
pub fn millis(ms: f64) -> String {
    if ms < 1000.0 {
        format!("{ms:.0} ms")
    } else if ms < 10_000.0 {
        format!("{:.1} s", ms / 1000.0)
    } else {
        format!("{:.0} s", ms / 1000.0)
    }
}

/// `1.2k/340`: input then output tokens.
pub fn in_out(tokens: TokenUsage) -> String {
    format!("{}/{}", count(tokens.input), count(tokens.output))
}

/// `950`, `12.3k`, `4.5M`, `1.2G`.
pub fn count(n: u64) -> String {
    let n = n as f64;
    let (value, suffix) = if n >= 1e9 {
        (n / 1e9, "G")
    } else if n >= 1e6 {
        (n / 1e6, "M")
    } else if n >= 1e3 {
        (n / 1e3, "k")
    } else {
        return format!("{n:.0}");
    };
    if value >= 100.0 {
        format!("{value:.0}{suffix}")
    } else {
        format!("{value:.1}{suffix}")
    }
}

/// Text from outside (a tool's name from its User-Agent) on one line: control characters
/// (a newline, an escape sequence that would drive the terminal) and bidirectional overrides
/// are dropped.
pub fn plain(text: &str) -> String {
    text.chars().filter(|c| !is_unsafe_text(*c)).collect()
}

/// The whole text without control characters but its line breaks.
fn strip_controls(text: &str) -> String {
    text.chars()
        .filter(|c| *c == '\n' || !is_unsafe_text(*c))
        .collect()
}

/// Text for Pango markup (Waybar's tooltip): the five markup characters escaped.
pub fn pango_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\'' => out.push_str("&#39;"),
            '"' => out.push_str("&quot;"),
            c => out.push(c),
        }
    }
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
/// (`?` when unknown, `0%?` when doubtful), `▲in-flight/limit` while the proxy sees traffic (the limit is the lower
/// of Redline's cap and the provider's limit), `+4q` while requests wait in Redline's queue,
/// and `429` instead of the percentage while throttled. The format is stable: scripts may
/// parse it.
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
                    .and_then(|w| {
                        let doubt = if w.doubtful.is_some() { "?" } else { "" };
                        w.used_ratio.map(|r| format!("{:.0}%{doubt}", r * 100.0))
                    })
                    .unwrap_or_else(|| "?".into())
            };
            let ceiling = concurrency_ceiling(a.concurrency.cap, a.concurrency.limit);
            let flight = match (a.concurrency.in_flight, ceiling) {
                (Some(n), Some(limit)) => format!(" ▲{n}/{limit}"),
                (Some(n), None) => format!(" ▲{n}"),
                _ => String::new(),
            };
            let queued = match a.concurrency.queued {
                Some(q) if q > 0 => format!(" +{q}q"),
                _ => String::new(),
            };
            format!("{} {usage}{flight}{queued}", plain(&a.id))
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
    // The busiest window of all, and whether its figure is in doubt.
    let busiest = status
        .accounts
        .iter()
        .filter_map(|a| a.busiest_window())
        .filter_map(|w| w.used_ratio.map(|r| (r, w.doubtful.is_some())))
        .fold(None, |max: Option<(f64, bool)>, (r, doubt)| match max {
            Some((m, _)) if m >= r => max,
            _ => Some((r, doubt)),
        });
    let text = if status.accounts.iter().any(AccountStatus::throttling_now) {
        "429".to_owned()
    } else {
        busiest
            .map(|(r, doubt)| format!("{:.0}%{}", r * 100.0, if doubt { "?" } else { "" }))
            .unwrap_or_else(|| "?".into())
    };
    let busiest = busiest.map(|(r, _)| r);
    // Waybar reads the tooltip as Pango markup: a tool named `<b>` must stay text.
    let tooltip = pango_escape(render_text(status, now).trim_end());
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

    /// kimi-main with a cap of 2: 2 in flight, 4 queued, a 0 % window beside 7 answered
    /// requests, and two tools (one with a hostile name).
    fn busy_status(used: f64) -> Status {
        use crate::config::ConcurrencyCap;
        use crate::providers::snapshot::WindowKind;
        use crate::proxy::traffic::TrafficFigures;
        use crate::status::health::AnsweredInWindow;
        use crate::status::model::{Counts, Percentiles, TokenTotals};
        let mut config = config_with("kimi-main", "kimi-code");
        let id: AccountId = "kimi-main".parse().unwrap();
        config.accounts.get_mut(&id).unwrap().concurrency_cap = ConcurrencyCap::Limit(2);
        let mut seen = observed(used);
        seen.in_flight = Some(2);
        seen.peak = Some(3);
        seen.queued = Some(4);
        seen.answered = vec![AnsweredInWindow {
            kind: WindowKind::FiveHour,
            scope: None,
            requests: 7,
        }];
        let tokens = |input, output| TokenUsage { input, output };
        seen.traffic = Some(TrafficFigures {
            in_flight: 2,
            peak: 3,
            queued: 4,
            requests: Counts {
                last_5m: 40,
                last_hour: 300,
            },
            errors: Counts {
                last_5m: 2,
                last_hour: 5,
            },
            cancelled: Counts {
                last_5m: 0,
                last_hour: 1,
            },
            queue_wait_ms: Percentiles {
                p50: Some(120.0),
                p95: Some(1500.0),
            },
            tokens: TokenTotals {
                last_5h: tokens(1_234, 340),
                today: tokens(30_500, 8_100),
            },
            first_token_ms_p50: Some(450.0),
            output_tokens_per_s_p50: Some(55.4),
            tools: vec![
                ToolTraffic {
                    tool: "Claude Code".into(),
                    in_flight: 2,
                    queued: 4,
                    requests: Counts {
                        last_5m: 40,
                        last_hour: 299,
                    },
                    errors: Counts {
                        last_5m: 2,
                        last_hour: 5,
                    },
                    tokens: TokenTotals {
                        last_5h: tokens(1_234, 340),
                        today: tokens(30_500, 8_000),
                    },
                    first_token_ms_p50: Some(450.0),
                    output_tokens_per_s_p50: Some(55.4),
                    ..ToolTraffic::default()
                },
                ToolTraffic {
                    tool: "<b>evil</b>\u{1b}[31m\nfake & co".into(),
                    requests: Counts {
                        last_5m: 0,
                        last_hour: 1,
                    },
                    cancelled: Counts {
                        last_5m: 0,
                        last_hour: 1,
                    },
                    tokens: TokenTotals {
                        last_5h: TokenUsage::default(),
                        today: tokens(0, 100),
                    },
                    ..ToolTraffic::default()
                },
            ],
        });
        build(
            &config,
            &BTreeMap::from([(id, seen)]),
            &mut BTreeMap::new(),
            now(),
        )
    }

    #[test]
    fn the_text_carries_traffic_per_account_and_per_tool() {
        let text = render_text(&busy_status(30.0), now());
        let expected = "  in flight 2 / cap 2 (provider limit 30), 4 queued, peak 3 in 5 min\n\
            \x20 requests 40 in 5 min (2 errors), 300 in the hour (5 errors, 1 cancelled)\n\
            \x20 queue wait p50 120 ms, p95 1.5 s\n\
            \x20 tokens in/out 1.2k/340 in 5 h, 30.5k/8.1k today\n\
            \x20 first token p50 450 ms, output 55 tokens/s p50\n\
            \x20 by tool:\n\
            \x20   Claude Code: 2 in flight, 4 queued; 299 requests in the hour (5 errors); tokens today 30.5k/8.0k; first token p50 450 ms, output 55 tokens/s p50\n\
            \x20   <b>evil</b>[31mfake & co: 1 request in the hour (1 cancelled); tokens today 0/100\n";
        assert!(text.contains(expected), "{text}");
        assert!(
            !text.contains('\u{1b}'),
            "no escape sequence reaches the terminal"
        );
    }

    fn shared(state: &str, group: Option<(u64, u64, u64)>) -> SharedStatus {
        SharedStatus {
            machine: "laptop".into(),
            state: state.into(),
            here_in_flight: 2,
            here_queued: 1,
            group_in_flight: group.map(|g| g.0),
            group_queued: group.map(|g| g.1),
            machines: group.map(|g| g.2),
            problem: (state == "unavailable").then(|| "connection refused".into()),
        }
    }

    #[test]
    fn a_shared_cap_shows_this_machine_beside_the_whole_group() {
        let mut status = busy_status(30.0);
        status.accounts[0].shared = Some(shared("shared", Some((2, 3, 3))));
        let text = render_text(&status, now());
        assert!(
            text.contains(
                "  in flight 2 / cap 2 (provider limit 30), 4 queued, peak 3 in 5 min\n\
                 \x20 shared cap: here 2 in flight, 1 queued · whole group 2/2 in flight, 3 queued, 3 machines\n"
            ),
            "{text}"
        );
        let one = shared("shared", Some((1, 0, 1)));
        assert_eq!(
            describe_shared(&one, None),
            "here 2 in flight, 1 queued · whole group 1 in flight, 1 machine"
        );
        let unread = shared("shared", None);
        assert_eq!(
            describe_shared(&unread, Some(8)),
            "here 2 in flight, 1 queued · whole group not read yet"
        );
        // Out of reach: the group's last figures are not shown as if current.
        let down = shared("unavailable", Some((7, 3, 3)));
        assert_eq!(
            describe_shared(&down, Some(8)),
            "here 2 in flight, 1 queued · whole group unknown (server out of reach: this machine's cap alone)"
        );
        // Without the setting, no line.
        assert!(!render_text(&busy_status(30.0), now()).contains("shared cap"));
    }

    #[test]
    fn no_traffic_no_traffic_block() {
        let mut status = busy_status(30.0);
        let account = &mut status.accounts[0];
        account.traffic = Some(TrafficStatus::default());
        account.concurrency.in_flight = Some(0);
        account.concurrency.queued = Some(0);
        account.concurrency.cap = None;
        account.concurrency.peak = Some(0);
        let text = render_text(&status, now());
        for absent in [
            "  requests ",
            "tokens in/out",
            "by tool",
            "queue wait p50",
            "peak",
        ] {
            assert!(!text.contains(absent), "{absent}: {text}");
        }
        // Without the engine (`--direct`) there is none either.
        status.accounts[0].traffic = None;
        assert!(!render_text(&status, now()).contains("  requests "));
    }

    #[test]
    fn a_doubtful_window_says_so_with_its_reason() {
        let text = render_text(&busy_status(0.0), now());
        assert!(
            text.contains("  5h 0% used (0/100 requests), resets in 1h 12m — doubtful\n"),
            "{text}"
        );
        assert!(
            text.contains(
                "UNKNOWN: 5h window: Kimi reports 0 % used, but Redline forwarded 7 requests in \
                 this window; its usage endpoint is known to answer 0 for some logins."
            ),
            "{text}"
        );
        let used = render_text(&busy_status(30.0), now());
        assert!(!used.contains("doubtful"), "{used}");
    }

    #[test]
    fn the_line_shows_the_queue() {
        let status = busy_status(30.0);
        // 2 in flight at a cap of 2 is a warning; 4 wait in Redline's queue.
        assert_eq!(render_line(&status), "WARN kimi-main 30% ▲2/2 +4q");
        let mut calm = status.clone();
        calm.accounts[0].concurrency.queued = Some(0);
        assert_eq!(render_line(&calm), "WARN kimi-main 30% ▲2/2");
        let mut uncapped = status.clone();
        uncapped.accounts[0].concurrency.cap = None;
        uncapped.accounts[0].concurrency.queued = Some(1);
        assert_eq!(render_line(&uncapped), "WARN kimi-main 30% ▲2/30 +1q");
        let doubtful = busy_status(0.0);
        // A doubtful 0 % is not shown as a plain 0 %.
        assert_eq!(render_line(&doubtful), "WARN kimi-main 0%? ▲2/2 +4q");
        assert_eq!(render_waybar(&doubtful, now())["text"], "0%?");
    }

    #[test]
    fn the_waybar_tooltip_carries_traffic_as_escaped_pango() {
        let waybar = render_waybar(&busy_status(30.0), now());
        let tooltip = waybar["tooltip"].as_str().unwrap();
        assert!(
            tooltip.contains("tokens in/out 1.2k/340 in 5 h, 30.5k/8.1k today"),
            "{tooltip}"
        );
        assert!(
            tooltip.contains("queue wait p50 120 ms, p95 1.5 s"),
            "{tooltip}"
        );
        assert!(
            tooltip.contains("    &lt;b&gt;evil&lt;/b&gt;[31mfake &amp; co: 1 request"),
            "{tooltip}"
        );
        assert!(
            !tooltip.contains("<b>") && !tooltip.contains(" & "),
            "{tooltip}"
        );
        assert!(!tooltip.contains('\u{1b}'));
        assert_eq!(waybar["text"], "30%");
    }

    #[test]
    fn counts_and_times_read_short() {
        assert_eq!(count(950), "950");
        assert_eq!(count(12_345), "12.3k");
        assert_eq!(count(123_456), "123k");
        assert_eq!(count(4_500_000), "4.5M");
        assert_eq!(count(1_200_000_000), "1.2G");
        assert_eq!(millis(0.4), "0 ms");
        assert_eq!(millis(999.0), "999 ms");
        assert_eq!(millis(1_234.0), "1.2 s");
        assert_eq!(millis(12_345.0), "12 s");
        assert_eq!(pango_escape(r#"a<b>&'c""#), "a&lt;b&gt;&amp;&#39;c&quot;");
        assert_eq!(plain("Kimi\u{202E}CLI\r\n\t"), "KimiCLI");
    }
}
