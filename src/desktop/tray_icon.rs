//! The tray glyph, title and tooltip, drawn from a [`Status`].
//!
//! The glyph is a gauge: a 270° ring open at the bottom whose filled arc is the most used
//! window of any account, coloured by the overall level (green, amber, red, grey), with a dot in
//! the middle while an account is being throttled. [`IconKind`] is everything the picture
//! depends on, so a host only redraws (`set_icon`) when the kind changes.

use crate::status::health::Level;
use crate::status::model::{AccountStatus, Status};
use crate::status::vocabulary::level_words;
use jiff::Timestamp;
use tiny_skia::{
    FillRule, LineCap, Paint, PathBuilder, Pixmap, PremultipliedColorU8, Stroke, Transform,
};

/// Width and height of the glyph in pixels. Tray hosts scale it; 32 is crisp on every panel.
pub const ICON_SIZE: u32 = 32;

/// The gauge moves in steps of 1/GAUGE_STEPS, so small usage changes do not redraw the icon.
pub const GAUGE_STEPS: u8 = 20;

/// Everything the picture depends on. Equal kinds draw identical pixels.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct IconKind {
    pub level: Level,
    /// Filled part of the gauge, 0..=GAUGE_STEPS; `None` when no window usage is known.
    pub gauge: Option<u8>,
    /// At least one account is being refused right now.
    pub throttling: bool,
}

/// A straight (not premultiplied) RGBA image, row by row, as tray APIs take it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rgba {
    pub width: u32,
    pub height: u32,
    pub pixels: Vec<u8>,
}

impl Rgba {
    /// The `[r, g, b, a]` of one pixel.
    pub fn pixel(&self, x: u32, y: u32) -> [u8; 4] {
        let at = ((y * self.width + x) * 4) as usize;
        self.pixels[at..at + 4].try_into().expect("four channels")
    }
}

/// The colour of a level, as `[r, g, b]`.
pub fn level_colour(level: Level) -> [u8; 3] {
    match level {
        Level::Ok => [0x2e, 0xa0, 0x43],
        Level::Warn => [0xf0, 0xa0, 0x20],
        Level::Critical => [0xe0, 0x24, 0x24],
        Level::Unknown => [0x8c, 0x8c, 0x8c],
    }
}

/// The used ratio of the most used window of any account.
pub fn busiest_ratio(status: &Status) -> Option<f64> {
    status
        .accounts
        .iter()
        .filter_map(|a| a.busiest_window().and_then(|w| w.used_ratio))
        .reduce(f64::max)
}

/// Whether this account has several refusals in the last minutes or a decisive one.
pub fn throttling_now(account: &AccountStatus) -> bool {
    account.reasons.iter().any(|r| r.code == "throttling_now")
}

pub fn icon_kind(status: &Status) -> IconKind {
    IconKind {
        level: status.level,
        gauge: busiest_ratio(status)
            .map(|r| (r.clamp(0.0, 1.0) * f64::from(GAUGE_STEPS)).round() as u8),
        throttling: status.accounts.iter().any(throttling_now),
    }
}

/// Gauge geometry: the ring starts at the lower left (135°, clockwise on screen) and sweeps
/// 270° to the lower right.
const START_DEGREES: f32 = 135.0;
const SWEEP_DEGREES: f32 = 270.0;
const RING_RADIUS: f32 = 11.0;
const RING_WIDTH: f32 = 6.0;
const MARK_RADIUS: f32 = 5.0;
const TRACK_ALPHA: u8 = 0x70;

/// Draws the glyph for `kind`.
pub fn render(kind: IconKind) -> Rgba {
    let mut pixmap = Pixmap::new(ICON_SIZE, ICON_SIZE).expect("a non-empty icon size");
    let [r, g, b] = level_colour(kind.level);
    let stroke = Stroke {
        width: RING_WIDTH,
        line_cap: LineCap::Butt,
        ..Stroke::default()
    };
    let mut track = Paint::default();
    track.set_color_rgba8(0x8c, 0x8c, 0x8c, TRACK_ALPHA);
    track.anti_alias = true;
    if let Some(path) = arc(1.0) {
        pixmap.stroke_path(&path, &track, &stroke, Transform::identity(), None);
    }
    let mut colour = Paint::default();
    colour.set_color_rgba8(r, g, b, 0xff);
    colour.anti_alias = true;
    // Grey means "nothing known": the track alone says so.
    if kind.level != Level::Unknown {
        let filled = f32::from(kind.gauge.unwrap_or(0)) / f32::from(GAUGE_STEPS);
        // An empty gauge still shows a sliver of colour: the level must be visible.
        if let Some(path) = arc(filled.max(0.04)) {
            pixmap.stroke_path(&path, &colour, &stroke, Transform::identity(), None);
        }
    }
    if kind.throttling {
        let centre = ICON_SIZE as f32 / 2.0;
        if let Some(dot) = PathBuilder::from_circle(centre, centre, MARK_RADIUS) {
            pixmap.fill_path(
                &dot,
                &colour,
                FillRule::Winding,
                Transform::identity(),
                None,
            );
        }
    }
    Rgba {
        width: ICON_SIZE,
        height: ICON_SIZE,
        pixels: pixmap
            .pixels()
            .iter()
            .flat_map(|p: &PremultipliedColorU8| {
                let c = p.demultiply();
                [c.red(), c.green(), c.blue(), c.alpha()]
            })
            .collect(),
    }
}

/// The first `fraction` of the ring, as short straight segments.
fn arc(fraction: f32) -> Option<tiny_skia::Path> {
    let centre = ICON_SIZE as f32 / 2.0;
    let sweep = SWEEP_DEGREES * fraction.clamp(0.0, 1.0);
    let segments = (sweep / 5.0).ceil().max(1.0) as u32;
    let mut path = PathBuilder::new();
    for i in 0..=segments {
        let angle = (START_DEGREES + sweep * i as f32 / segments as f32).to_radians();
        let (x, y) = (
            centre + RING_RADIUS * angle.cos(),
            centre + RING_RADIUS * angle.sin(),
        );
        if i == 0 {
            path.move_to(x, y);
        } else {
            path.line_to(x, y);
        }
    }
    path.finish()
}

/// The short text beside the icon where the platform shows one: `429` while throttled, else
/// the most used window as `62%`, or `?` when nothing is known yet.
pub fn title(status: &Status) -> String {
    if status.accounts.iter().any(throttling_now) {
        return "429".into();
    }
    busiest_ratio(status)
        .map(|r| format!("{:.0}%", r * 100.0))
        .unwrap_or_else(|| "?".into())
}

/// The hover text: the overall state, then one line per account with its worst reason.
pub fn tooltip(status: &Status, now: Timestamp) -> String {
    if status.accounts.is_empty() {
        return "Redline: no keys yet. Open the dashboard to add one.".into();
    }
    // Words with the colour, so colour is never the only signal.
    let mut lines = vec![format!("Redline: {}", level_words(status.level).phrase)];
    for account in &status.accounts {
        let name = account.label.as_deref().unwrap_or(&account.id);
        let detail = match account.reasons.iter().find(|r| r.level != Level::Ok) {
            Some(reason) => reason.message.clone(),
            None => account
                .busiest_window()
                .map(|w| w.describe(now))
                .unwrap_or_else(|| "all well".into()),
        };
        lines.push(format!("{name}: {detail}"));
    }
    lines.join("\n")
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use serde_json::json;

    pub(crate) fn now() -> Timestamp {
        "2026-11-29T12:00:00Z".parse().unwrap()
    }

    /// One account's JSON with a 5-hour window `used` of 100 (its level as the engine judges
    /// it with the default thresholds) and the given reasons.
    pub(crate) fn account(
        id: &str,
        level: &str,
        used: Option<f64>,
        reasons: &[(&str, &str)],
    ) -> serde_json::Value {
        let windows = match used {
            Some(used) => json!([{
                "kind": "five_hour", "scope": null, "used": used, "limit": 100.0,
                "remaining": 100.0 - used, "unit": "requests", "used_ratio": used / 100.0,
                "resets_at": "2026-11-29T13:12:00Z", "level": default_level(used / 100.0)
            }]),
            None => json!([]),
        };
        json!({
            "id": id, "provider": "kimi-code", "label": "Kimi Code", "level": level,
            "reasons": reasons.iter().map(|(code, message)| json!({
                "level": if code.starts_with("throttling") || code.contains("critical") { "critical" } else { "warn" },
                "code": code, "message": message
            })).collect::<Vec<_>>(),
            "plan": null, "windows": windows, "balances": [],
            "concurrency": {"limit": 30, "in_flight": null, "peak": null},
            "throttles": {"recent": 0, "by_cause": {}, "last": null},
            "key": {"fingerprint": null, "age_days": null, "health": "ok"},
            "updated_at": null
        })
    }

    /// The level of a share used against the default thresholds (80 and 95 %).
    pub(crate) fn default_level(used_ratio: f64) -> Level {
        let thresholds = (&crate::config::Config::default().thresholds).into();
        crate::status::health::usage_level(Some(used_ratio), used_ratio >= 1.0, thresholds)
    }

    pub(crate) fn status(level: &str, accounts: Vec<serde_json::Value>) -> Status {
        serde_json::from_value(json!({
            "level": level, "generated_at": "2026-11-29T12:00:00Z", "accounts": accounts
        }))
        .unwrap()
    }

    fn is_colour(pixel: [u8; 4], level: Level) -> bool {
        let [r, g, b] = level_colour(level);
        let near = |a: u8, b: u8| a.abs_diff(b) <= 8;
        pixel[3] > 0xf0 && near(pixel[0], r) && near(pixel[1], g) && near(pixel[2], b)
    }

    /// The pixel in the middle of the ring at `degrees` (screen angles, clockwise from east).
    fn ring_pixel(icon: &Rgba, degrees: f32) -> [u8; 4] {
        let c = ICON_SIZE as f32 / 2.0;
        let a = degrees.to_radians();
        icon.pixel(
            (c + RING_RADIUS * a.cos()).floor() as u32,
            (c + RING_RADIUS * a.sin()).floor() as u32,
        )
    }

    fn centre(icon: &Rgba) -> [u8; 4] {
        icon.pixel(ICON_SIZE / 2, ICON_SIZE / 2)
    }

    #[test]
    fn a_calm_account_draws_a_short_green_arc() {
        let s = status("ok", vec![account("kimi", "ok", Some(30.0), &[])]);
        let kind = icon_kind(&s);
        assert_eq!(
            kind,
            IconKind {
                level: Level::Ok,
                gauge: Some(6),
                throttling: false
            }
        );
        let icon = render(kind);
        assert_eq!(icon.pixels.len(), (ICON_SIZE * ICON_SIZE * 4) as usize);
        // 30 % of 270° is 81°: well inside at 20° past the start, not filled at 200°.
        assert!(is_colour(
            ring_pixel(&icon, START_DEGREES + 20.0),
            Level::Ok
        ));
        let unfilled = ring_pixel(&icon, START_DEGREES + 200.0);
        assert!(!is_colour(unfilled, Level::Ok), "{unfilled:?}");
        assert!(
            unfilled[3] > 0 && unfilled[3] < 0xf0,
            "the track shows: {unfilled:?}"
        );
        assert_eq!(centre(&icon)[3], 0, "no throttling mark");
        // The gap at the bottom stays empty.
        assert_eq!(ring_pixel(&icon, 90.0)[3], 0);
    }

    #[test]
    fn throttling_draws_a_red_full_gauge_with_a_mark() {
        let s = status(
            "critical",
            vec![account(
                "kimi",
                "critical",
                Some(100.0),
                &[("throttling_now", "Throttled: concurrency limit.")],
            )],
        );
        let kind = icon_kind(&s);
        assert!(kind.throttling);
        let icon = render(kind);
        assert!(
            is_colour(centre(&icon), Level::Critical),
            "{:?}",
            centre(&icon)
        );
        assert!(is_colour(
            ring_pixel(&icon, START_DEGREES + 260.0),
            Level::Critical
        ));
        assert!(
            !icon
                .pixels
                .chunks(4)
                .any(|p| is_colour(p.try_into().unwrap(), Level::Ok))
        );
    }

    #[test]
    fn amber_and_grey_levels_keep_their_colour() {
        let warn = render(icon_kind(&status(
            "warn",
            vec![account("k", "warn", Some(86.0), &[])],
        )));
        assert!(is_colour(
            ring_pixel(&warn, START_DEGREES + 200.0),
            Level::Warn
        ));
        let unknown = render(icon_kind(&status(
            "unknown",
            vec![account("k", "unknown", None, &[])],
        )));
        for level in [Level::Ok, Level::Warn, Level::Critical] {
            assert!(
                !unknown
                    .pixels
                    .chunks(4)
                    .any(|p| is_colour(p.try_into().unwrap(), level))
            );
        }
        assert!(
            unknown.pixels.chunks(4).any(|p| p[3] > 0),
            "the grey track shows"
        );
    }

    #[test]
    fn an_empty_gauge_still_shows_its_level() {
        let icon = render(icon_kind(&status(
            "ok",
            vec![account("k", "ok", Some(0.0), &[])],
        )));
        assert!(is_colour(ring_pixel(&icon, START_DEGREES + 4.0), Level::Ok));
    }

    #[test]
    fn the_kind_changes_only_when_the_picture_would() {
        let at = |used| icon_kind(&status("ok", vec![account("k", "ok", Some(used), &[])]));
        assert_eq!(at(30.0), at(31.0), "a 1 % change keeps the picture");
        assert_ne!(at(30.0), at(40.0));
        assert_eq!(render(at(30.0)), render(at(31.0)));
        assert_ne!(render(at(30.0)), render(at(40.0)));
    }

    #[test]
    fn the_most_used_window_of_any_account_drives_the_gauge_and_title() {
        let s = status(
            "warn",
            vec![
                account("a", "ok", Some(12.0), &[]),
                account("b", "warn", Some(62.4), &[]),
            ],
        );
        assert_eq!(icon_kind(&s).gauge, Some(12));
        assert_eq!(title(&s), "62%");
    }

    #[test]
    fn title_says_429_while_throttled_and_question_mark_with_no_data() {
        let throttled = status(
            "critical",
            vec![account(
                "k",
                "critical",
                Some(40.0),
                &[("throttling_now", "Throttled")],
            )],
        );
        assert_eq!(title(&throttled), "429");
        assert_eq!(
            title(&status("unknown", vec![account("k", "unknown", None, &[])])),
            "?"
        );
    }

    #[test]
    fn tooltip_names_each_account_and_its_worst_reason() {
        let s = status(
            "critical",
            vec![
                account(
                    "k",
                    "critical",
                    Some(40.0),
                    &[("throttling_now", "Throttled: concurrency limit.")],
                ),
                account("c", "ok", Some(20.0), &[]),
            ],
        );
        let text = tooltip(&s, now());
        assert!(
            text.starts_with("Redline: throttled or nearly out\n"),
            "{text}"
        );
        assert!(
            text.contains("Kimi Code: Throttled: concurrency limit."),
            "{text}"
        );
        assert!(
            text.contains("Kimi Code: 5h 20% used (20/100 requests), resets in 1h 12m"),
            "{text}"
        );
        assert!(tooltip(&status("unknown", vec![]), now()).contains("no keys yet"));
    }
}
