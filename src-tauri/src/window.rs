//! The window process (`redline-desktop --window`): the dashboard (`ui/`) in a webview whose
//! commands reach the engine in the tray process (see `window_process` and `commands`). It
//! exits when its window is closed, or when the tray process goes (its input ends).

use crate::commands::Engine;
use crate::window_process::{FromWindow, ToWindow};
use redline::keys::secret::Secret;
use redline::serve::api_client::ApiClient;
use std::io::{BufRead as _, Write as _};
use std::sync::{Mutex, PoisonError};
use tauri::webview::PageLoadEvent;
use tauri::{AppHandle, Emitter, Manager, WebviewWindow, WebviewWindowBuilder};

/// Label of the dashboard window declared in `tauri.conf.json`.
const MAIN_WINDOW: &str = "main";
/// The event the page listens to; it then pulls the status with `get_status`.
const STATUS_CHANGED: &str = "status-changed";
/// The event that carries a notice of the engine's tool watch to the page.
const TOOL_NOTICE: &str = "tool-notice";
/// The dashboard's views the tray may open the window on.
const VIEWS: &[&str] = &["overview", "events", "keys", "tools", "settings", "history"];

/// The view the tray asked for before the page had loaded, shown once it has.
#[derive(Default)]
struct Page {
    loaded: bool,
    view: Option<String>,
}

#[derive(Default)]
struct PageState(Mutex<Page>);

/// Shows `view` (one of [`VIEWS`]) as the dashboard does for a link: by its address's `#`.
fn go_to(window: &WebviewWindow, view: &str) {
    if !VIEWS.contains(&view) {
        return;
    }
    let hash = serde_json::to_string(&format!("#{view}")).expect("a string");
    if let Err(err) = window.eval(format!("location.hash = {hash};")) {
        eprintln!("redline-desktop window: could not open the {view} view: {err}");
    }
}

pub fn run() {
    let app = tauri::Builder::default()
        .plugin(crate::autostart_plugin())
        .manage(Engine::default())
        .manage(PageState::default())
        .invoke_handler(crate::all_commands!())
        .setup(|app| {
            #[cfg(target_os = "macos")]
            app.set_activation_policy(tauri::ActivationPolicy::Accessory);
            build_window(app.handle())?;
            follow_tray(app.handle().clone())?;
            Ok(())
        })
        .build(tauri::generate_context!())
        .expect("redline-desktop: the Tauri runtime failed to start");
    // The process ends with its window (Tauri exits when the last window has closed); the
    // tray hears of it at once, as ending takes WebKit a moment.
    app.run(|_, event| {
        if let tauri::RunEvent::WindowEvent {
            event: tauri::WindowEvent::Destroyed,
            ..
        } = event
        {
            tell_tray(FromWindow::Closing);
        }
    });
}

fn build_window(app: &AppHandle) -> tauri::Result<()> {
    let config = app
        .config()
        .app
        .windows
        .iter()
        .find(|w| w.label == MAIN_WINDOW)
        .ok_or(tauri::Error::WindowNotFound)?;
    let window = WebviewWindowBuilder::from_config(app, config)?
        .on_page_load(|window, payload| {
            if payload.event() != PageLoadEvent::Finished {
                return;
            }
            let state = window.state::<PageState>();
            let mut page = state.0.lock().unwrap_or_else(PoisonError::into_inner);
            page.loaded = true;
            if let Some(view) = page.view.take() {
                go_to(&window, &view);
            }
        })
        .build()?;
    window.set_focus()
}

/// Reads the tray process's messages from stdin until it ends.
fn follow_tray(app: AppHandle) -> std::io::Result<()> {
    std::thread::Builder::new()
        .name("tray-input".into())
        .spawn(move || {
            for line in std::io::stdin().lock().lines() {
                let Ok(line) = line else { break };
                match serde_json::from_str::<ToWindow>(&line) {
                    Ok(message) => handle(&app, message),
                    Err(err) => eprintln!("redline-desktop window: unreadable message: {err}"),
                }
            }
            // The tray app has gone (quit or crashed): so does its window.
            app.exit(0);
        })
        .map(drop)
}

fn handle(app: &AppHandle, message: ToWindow) {
    match message {
        ToWindow::Connect { url, token } => {
            let client = Secret::parse(&token)
                .map_err(|err| err.to_string())
                .and_then(|token| ApiClient::new(&url, token));
            match client {
                Ok(client) => {
                    app.state::<Engine>().connect(client);
                    let _ = app.emit(STATUS_CHANGED, ());
                }
                Err(err) => eprintln!("redline-desktop window: cannot reach the engine: {err}"),
            }
        }
        ToWindow::Show { view } => {
            if let Some(window) = app.get_webview_window(MAIN_WINDOW) {
                let shown = window
                    .show()
                    .and_then(|()| window.unminimize())
                    .and_then(|()| window.set_focus());
                if let Err(err) = shown {
                    eprintln!("redline-desktop window: could not show the window: {err}");
                }
                if let Some(view) = view {
                    let state = app.state::<PageState>();
                    let mut page = state.0.lock().unwrap_or_else(PoisonError::into_inner);
                    if page.loaded {
                        go_to(&window, &view);
                    } else {
                        page.view = Some(view);
                    }
                }
            }
        }
        ToWindow::ToolNotice { notice } => {
            let _ = app.emit(TOOL_NOTICE, notice);
        }
        ToWindow::StatusChanged => {
            let _ = app.emit(STATUS_CHANGED, ());
        }
        ToWindow::EngineFailed { message } => {
            app.state::<Engine>().failed(message);
            let _ = app.emit(STATUS_CHANGED, ());
        }
    }
}

/// Tells the tray process something, as one line on stdout.
pub fn tell_tray(message: FromWindow) {
    if let Ok(line) = serde_json::to_string(&message) {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{line}").and_then(|()| out.flush());
    }
}
