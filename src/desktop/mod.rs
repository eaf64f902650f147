//! The desktop app's decisions as pure data, so they are tested without a window or a tray:
//! `tray_icon` (the glyph, title and tooltip), `tray_menu` (the menu) and `notify_policy`
//! (which notifications to show, deduplicated and rate-limited). `src-tauri` draws them.

pub mod notify_policy;
pub mod tray_icon;
pub mod tray_menu;
