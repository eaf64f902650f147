//! `redline-desktop`: the tray app. It lives in the tray; the window shows the dashboard (`ui/`).
//!
//! Closing the window hides it and the app keeps running; "Quit" in the tray menu exits.

// No console window on Windows release builds.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

use redline::daemon::{self, DaemonOptions};
use redline::keys::Keys;
use redline::paths::Paths;
use tauri::menu::{Menu, MenuEvent, MenuItem};
use tauri::tray::TrayIconBuilder;
use tauri::{AppHandle, Manager, WindowEvent};

/// Label of the dashboard window declared in `tauri.conf.json`.
const MAIN_WINDOW: &str = "main";
const MENU_OPEN: &str = "open";
const MENU_QUIT: &str = "quit";

/// Command-line flags. Unknown arguments are reported and ignored.
#[derive(Debug, Default, PartialEq, Eq)]
struct Flags {
    /// `--demo`: run the built-in demo instead of the configured accounts.
    demo: bool,
    /// `--hidden`: start in the tray without opening the window, as autostart does.
    hidden: bool,
}

impl Flags {
    fn parse(args: impl IntoIterator<Item = String>) -> Self {
        let mut flags = Self::default();
        for arg in args {
            match arg.as_str() {
                "--demo" => flags.demo = true,
                "--hidden" => flags.hidden = true,
                other => eprintln!("redline-desktop: ignoring unknown argument {other:?}"),
            }
        }
        flags
    }
}

fn main() {
    let flags = Flags::parse(std::env::args().skip(1));

    tauri::Builder::default()
        .setup(move |app| {
            start_engine(flags.demo);
            build_tray(app.handle())?;
            if !flags.hidden {
                show_main_window(app.handle());
            }
            Ok(())
        })
        .on_window_event(|window, event| {
            // A tray app stays alive: closing the window only hides it.
            if let WindowEvent::CloseRequested { api, .. } = event
                && window.label() == MAIN_WINDOW
            {
                api.prevent_close();
                if let Err(err) = window.hide() {
                    eprintln!("redline-desktop: could not hide the window: {err}");
                }
            }
        })
        .run(tauri::generate_context!())
        .expect("redline-desktop: the Tauri runtime failed to start");
}

/// Runs the engine (the same as `redline daemon`) inside the app: the configured accounts,
/// or the built-in demo when asked for or when no key is configured yet.
fn start_engine(demo: bool) {
    tauri::async_runtime::spawn(async move {
        let paths = match Paths::from_env() {
            Ok(paths) => paths,
            Err(err) => return eprintln!("redline-desktop: {err}"),
        };
        let no_keys = Keys::from_paths(&paths)
            .list()
            .is_ok_and(|keys| keys.is_empty());
        let options = DaemonOptions {
            demo: demo || no_keys,
            ..DaemonOptions::default()
        };
        if let Err(err) = daemon::serve(&paths, options, std::future::pending()).await {
            eprintln!("redline-desktop: the engine stopped: {err}");
        }
    });
}

/// The tray icon (the app's default window icon) with "Open dashboard" and "Quit".
fn build_tray(app: &AppHandle) -> tauri::Result<()> {
    let open = MenuItem::with_id(app, MENU_OPEN, "Open dashboard", true, None::<&str>)?;
    let quit = MenuItem::with_id(app, MENU_QUIT, "Quit", true, None::<&str>)?;
    let menu = Menu::with_items(app, &[&open, &quit])?;

    let mut tray = TrayIconBuilder::with_id("redline")
        .tooltip("Redline")
        .menu(&menu)
        .on_menu_event(on_menu_event);
    if let Some(icon) = app.default_window_icon() {
        tray = tray.icon(icon.clone());
    }
    // The app keeps the built tray icon alive; no need to hold on to the handle.
    tray.build(app)?;
    Ok(())
}

fn on_menu_event(app: &AppHandle, event: MenuEvent) {
    match event.id().as_ref() {
        MENU_OPEN => show_main_window(app),
        MENU_QUIT => app.exit(0),
        _ => {}
    }
}

/// Shows, restores and focuses the dashboard window.
fn show_main_window(app: &AppHandle) {
    let Some(window) = app.get_webview_window(MAIN_WINDOW) else {
        eprintln!("redline-desktop: no window labelled {MAIN_WINDOW:?}");
        return;
    };
    let shown = window
        .show()
        .and_then(|()| window.unminimize())
        .and_then(|()| window.set_focus());
    if let Err(err) = shown {
        eprintln!("redline-desktop: could not show the window: {err}");
    }
}

#[cfg(test)]
mod tests {
    use super::Flags;

    fn parse(args: &[&str]) -> Flags {
        Flags::parse(args.iter().map(|arg| arg.to_string()))
    }

    #[test]
    fn no_arguments_open_the_window_with_live_data() {
        assert_eq!(
            parse(&[]),
            Flags {
                demo: false,
                hidden: false
            }
        );
    }

    #[test]
    fn demo_and_hidden_are_recognised_in_any_order() {
        let both = Flags {
            demo: true,
            hidden: true,
        };
        assert_eq!(parse(&["--hidden", "--demo"]), both);
        assert_eq!(parse(&["--demo", "--hidden"]), both);
    }

    #[test]
    fn unknown_arguments_are_ignored() {
        assert_eq!(
            parse(&["--verbose", "--hidden"]),
            Flags {
                demo: false,
                hidden: true
            }
        );
    }
}
