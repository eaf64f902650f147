//! The words for what the Status reports: each level's word, glyph and sentence, each throttle
//! cause's name and what to do about it, each provider's and window's name. Views print these
//! next to the ids the Status carries instead of keeping their own copies; the dashboard reads
//! them from `GET /api/v1/vocabulary` (the desktop window through `get_vocabulary`).
//!
//! Every id of every list is here, in the order a picker shows them; an id a view does not
//! find (from a newer engine) is shown as it is.

use crate::providers::ProviderId;
use crate::providers::snapshot::WindowKind;
use crate::providers::throttle::Cause;
use crate::status::health::Level;
use serde::Serialize;

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Vocabulary {
    pub levels: Vec<LevelWords>,
    pub causes: Vec<CauseWords>,
    pub providers: Vec<ProviderWords>,
    pub windows: Vec<WindowWords>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LevelWords {
    pub id: Level,
    /// `Warning`: a badge's word.
    pub word: &'static str,
    /// `!`: shown with the colour, so colour is never the only signal.
    pub glyph: &'static str,
    /// What the level means for everything at once: `Something is getting close to a limit.`
    pub sentence: &'static str,
    /// In a line of text: `nearing a limit`.
    pub phrase: &'static str,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CauseWords {
    pub id: Cause,
    /// `Concurrency limit`.
    pub name: &'static str,
    /// What to do, in a few words: `Run fewer agents at once`.
    pub advice_title: &'static str,
    /// Whether waiting and sending the same request again usually succeeds.
    pub retry_helps: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ProviderWords {
    pub id: ProviderId,
    /// `Kimi Code (coding plan)`.
    pub name: &'static str,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct WindowWords {
    pub id: WindowKind,
    /// `5-hour window`.
    pub name: &'static str,
    /// `5h`: for charts, tray lines and tables.
    pub short: &'static str,
}

/// Every word the views need, in the order of each list's ids.
pub fn vocabulary() -> Vocabulary {
    Vocabulary {
        levels: Level::ALL.into_iter().map(level_words).collect(),
        causes: Cause::ALL
            .into_iter()
            .map(|id| CauseWords {
                id,
                name: cause_name(id),
                advice_title: advice_title(id),
                retry_helps: id.retry_helps(),
            })
            .collect(),
        providers: ProviderId::ALL
            .into_iter()
            .map(|id| ProviderWords {
                id,
                name: id.display_name(),
            })
            .collect(),
        windows: WindowKind::ALL
            .into_iter()
            .map(|id| WindowWords {
                id,
                name: window_name(id),
                short: id.short_label(),
            })
            .collect(),
    }
}

pub fn level_words(level: Level) -> LevelWords {
    let (word, glyph, sentence, phrase) = match level {
        Level::Ok => ("OK", "✓", "Everything is fine.", "all well"),
        Level::Warn => (
            "Warning",
            "!",
            "Something is getting close to a limit.",
            "nearing a limit",
        ),
        Level::Critical => (
            "Critical",
            "✕",
            "A limit is reached or a key is refused.",
            "throttled or nearly out",
        ),
        Level::Unknown => (
            "No data",
            "?",
            "No data yet, or a provider cannot be reached.",
            "no data yet",
        ),
    };
    LevelWords {
        id: level,
        word,
        glyph,
        sentence,
        phrase,
    }
}

pub fn cause_name(cause: Cause) -> &'static str {
    match cause {
        Cause::Concurrency => "Concurrency limit",
        Cause::Rpm => "Requests per minute",
        Cause::Tpm => "Tokens per minute",
        Cause::Tpd => "Tokens per day",
        Cause::QuotaExhausted => "Quota used up",
        Cause::SpendCap => "Spend limit",
        Cause::Overloaded => "Provider overloaded",
        Cause::AuthInvalid => "Key refused",
        Cause::ClientRejected => "Client not allowed",
        Cause::Other => "Other",
    }
}

/// The gist of the cause's advice sentence (`providers/throttle.rs`, `advice`).
pub fn advice_title(cause: Cause) -> &'static str {
    match cause {
        Cause::Concurrency => "Run fewer agents at once",
        Cause::Rpm => "Spread requests over the minute",
        Cause::Tpm => "Send smaller prompts or fewer at once",
        Cause::Tpd => "Wait for the daily reset",
        Cause::QuotaExhausted => "Wait for the reset or top up",
        Cause::SpendCap => "Raise the spend limit",
        Cause::Overloaded => "Retry shortly",
        Cause::AuthInvalid => "Check or rotate the key",
        Cause::ClientRejected => "Use a supported tool",
        Cause::Other => "Read the provider's message",
    }
}

pub fn window_name(kind: WindowKind) -> &'static str {
    match kind {
        WindowKind::FiveHour => "5-hour window",
        WindowKind::Daily => "Daily",
        WindowKind::Weekly => "Weekly",
        WindowKind::Monthly => "Monthly",
        WindowKind::Rpm => "Requests per minute",
        WindowKind::Tpm => "Tokens per minute",
        WindowKind::Tpd => "Tokens per day",
        WindowKind::Balance => "Balance",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn ids(list: &Value) -> Vec<String> {
        list.as_array()
            .unwrap()
            .iter()
            .map(|entry| entry["id"].as_str().unwrap().to_owned())
            .collect()
    }

    /// The ids as the Status JSON spells them.
    fn spelled<T: Serialize>(all: impl IntoIterator<Item = T>) -> Vec<String> {
        all.into_iter()
            .map(|id| {
                serde_json::to_value(id)
                    .unwrap()
                    .as_str()
                    .unwrap()
                    .to_owned()
            })
            .collect()
    }

    #[test]
    fn every_id_the_status_can_carry_has_words() {
        let json = serde_json::to_value(vocabulary()).unwrap();
        assert_eq!(ids(&json["levels"]), ["ok", "warn", "critical", "unknown"]);
        assert_eq!(ids(&json["causes"]), spelled(Cause::ALL));
        assert_eq!(ids(&json["providers"]), spelled(ProviderId::ALL));
        assert_eq!(ids(&json["windows"]), spelled(WindowKind::ALL));
        for list in ["levels", "causes", "providers", "windows"] {
            for entry in json[list].as_array().unwrap() {
                for (field, words) in entry.as_object().unwrap() {
                    if let Some(words) = words.as_str() {
                        assert!(!words.trim().is_empty(), "{list}: {entry} has no {field}");
                    }
                }
            }
        }
    }

    #[test]
    fn the_words_read_as_the_dashboard_shows_them() {
        let json = serde_json::to_value(vocabulary()).unwrap();
        assert_eq!(
            json["levels"][1],
            serde_json::json!({"id": "warn", "word": "Warning", "glyph": "!",
                "sentence": "Something is getting close to a limit.", "phrase": "nearing a limit"})
        );
        assert_eq!(
            json["causes"][0],
            serde_json::json!({"id": "concurrency", "name": "Concurrency limit",
                "advice_title": "Run fewer agents at once", "retry_helps": true})
        );
        assert_eq!(json["causes"][4]["retry_helps"], false, "quota used up");
        assert_eq!(
            json["providers"][0],
            serde_json::json!({"id": "kimi-code", "name": "Kimi Code (coding plan)"})
        );
        assert_eq!(
            json["windows"][0],
            serde_json::json!({"id": "five_hour", "name": "5-hour window", "short": "5h"})
        );
    }
}
