//! The normalized picture of one account's quota, whatever the provider: windows with used /
//! limit / remaining / reset, the plan, the concurrency limit and balances.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

/// Which quota or rate window a number belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WindowKind {
    FiveHour,
    Daily,
    Weekly,
    Monthly,
    /// Requests per minute (or per the provider's rate interval).
    Rpm,
    /// Tokens per minute.
    Tpm,
    /// Tokens per day.
    Tpd,
    /// A prepaid credit or spend limit without a reset.
    Balance,
}

impl WindowKind {
    pub const ALL: [WindowKind; 8] = [
        WindowKind::FiveHour,
        WindowKind::Daily,
        WindowKind::Weekly,
        WindowKind::Monthly,
        WindowKind::Rpm,
        WindowKind::Tpm,
        WindowKind::Tpd,
        WindowKind::Balance,
    ];

    /// The short label with the window's scope, if any: `5h`, `month (coding)`.
    pub fn label_with(self, scope: Option<&str>) -> String {
        match scope {
            Some(scope) => format!("{} ({scope})", self.short_label()),
            None => self.short_label().to_owned(),
        }
    }

    /// Short label for tray lines and tables: `5h`, `week`, `RPM`.
    pub fn short_label(self) -> &'static str {
        match self {
            WindowKind::FiveHour => "5h",
            WindowKind::Daily => "day",
            WindowKind::Weekly => "week",
            WindowKind::Monthly => "month",
            WindowKind::Rpm => "RPM",
            WindowKind::Tpm => "TPM",
            WindowKind::Tpd => "TPD",
            WindowKind::Balance => "credit",
        }
    }
}

/// What a window counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Unit {
    Requests,
    Tokens,
    /// The provider reports only a percentage (used and limit are then out of 100).
    Percent,
    Usd,
    Cny,
    /// A plan's own credits (Z.ai's credit plans), not money.
    Credits,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Window {
    pub kind: WindowKind,
    /// Narrows the window when a provider has several of one kind: `opus`, a model name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    pub used: Option<f64>,
    pub limit: Option<f64>,
    pub remaining: Option<f64>,
    pub unit: Unit,
    pub resets_at: Option<Timestamp>,
    /// A caveat about the figure from the provider's own answer: its two figures for this
    /// window disagree, say.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl Window {
    /// A window from whichever of used / limit / remaining the provider gave, deriving the
    /// missing one (Kimi sometimes omits `used`).
    pub fn new(kind: WindowKind, unit: Unit) -> Window {
        Window {
            kind,
            scope: None,
            used: None,
            limit: None,
            remaining: None,
            unit,
            resets_at: None,
            note: None,
        }
    }

    pub fn counts(
        mut self,
        used: Option<f64>,
        limit: Option<f64>,
        remaining: Option<f64>,
    ) -> Window {
        self.used = used.or_else(|| Some(limit? - remaining?));
        self.remaining = remaining.or_else(|| Some(limit? - self.used?));
        self.limit = limit.or_else(|| Some(self.used? + self.remaining?));
        self
    }

    /// A window known only as a percentage used (0-100).
    pub fn percent(kind: WindowKind, used_percent: f64) -> Window {
        Window::new(kind, Unit::Percent).counts(Some(used_percent), Some(100.0), None)
    }

    pub fn resets_at(mut self, at: Option<Timestamp>) -> Window {
        self.resets_at = at;
        self
    }

    pub fn scope(mut self, scope: impl Into<String>) -> Window {
        self.scope = Some(scope.into());
        self
    }

    /// Fraction of the limit used, 0.0 to 1.0 (more when over); `None` without a limit.
    pub fn used_ratio(&self) -> Option<f64> {
        let limit = self.limit.filter(|l| *l > 0.0)?;
        let used = self.used.or_else(|| Some(limit - self.remaining?))?;
        Some((used / limit).max(0.0))
    }
}

/// Money on an account: prepaid balance, vouchers, a booster wallet.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Balance {
    /// What the money is: `available`, `voucher`, `cash`, `booster`, `total`.
    pub kind: String,
    pub amount: f64,
    /// ISO 4217 code as the provider gives it (`USD`, `CNY`).
    pub currency: String,
}

/// Everything one poll learned about an account.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    pub plan: Option<String>,
    pub windows: Vec<Window>,
    /// Most requests the provider lets this account have in flight at once.
    pub concurrency_limit: Option<u64>,
    /// The limit above is the plan's published one, not the provider's answer (Kimi stopped
    /// sending `parallel`); a refusal with fewer in flight proves it lower.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub concurrency_limit_assumed: bool,
    pub balances: Vec<Balance>,
}

impl Snapshot {
    /// Adds windows the snapshot lacks (by kind and scope); its own numbers win. Rate-limit
    /// headers fill in what a usage body does not say.
    pub fn add_missing_windows(&mut self, windows: impl IntoIterator<Item = Window>) {
        for window in windows {
            if !self
                .windows
                .iter()
                .any(|w| (w.kind, &w.scope) == (window.kind, &window.scope))
            {
                self.windows.push(window);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_counts_are_derived() {
        let w =
            Window::new(WindowKind::Weekly, Unit::Requests).counts(None, Some(100.0), Some(60.0));
        assert_eq!(
            (w.used, w.limit, w.remaining),
            (Some(40.0), Some(100.0), Some(60.0))
        );
        let w =
            Window::new(WindowKind::Weekly, Unit::Requests).counts(Some(30.0), None, Some(70.0));
        assert_eq!(w.limit, Some(100.0));
        assert_eq!(w.used_ratio(), Some(0.3));
        let w = Window::new(WindowKind::Rpm, Unit::Requests).counts(None, None, Some(5.0));
        assert_eq!((w.used, w.limit, w.used_ratio()), (None, None, None));
    }

    #[test]
    fn missing_windows_are_added_and_present_ones_kept() {
        let mut snapshot = Snapshot {
            windows: vec![Window::percent(WindowKind::FiveHour, 20.0)],
            ..Snapshot::default()
        };
        snapshot.add_missing_windows([
            Window::percent(WindowKind::FiveHour, 90.0),
            Window::percent(WindowKind::FiveHour, 50.0).scope("opus"),
            Window::percent(WindowKind::Weekly, 30.0),
        ]);
        let ratios: Vec<_> = snapshot.windows.iter().map(|w| w.used_ratio()).collect();
        assert_eq!(ratios, [Some(0.2), Some(0.5), Some(0.3)]);
    }

    #[test]
    fn percent_windows_have_a_ratio() {
        assert_eq!(
            Window::percent(WindowKind::FiveHour, 21.0).used_ratio(),
            Some(0.21)
        );
    }
}
