//! `redline-desktop`: the tray app. It runs the engine in-process (the same as `redline
//! daemon`), shows its status as a tray icon, title, tooltip and menu, notifies when the
//! engine's policy says so, and opens the dashboard (`ui/`) in a window on request.
//!
//! The window runs in a process of its own (`--window`, see `window_process`): closing it ends
//! that process with WebKit and everything it loaded, so the idle tray app holds no web
//! process (and gives back the library pages it does not use, see `footprint`). "Quit" in the
//! tray menu stops the engine cleanly and exits. Only one instance runs: a second launch opens
//! the first one's window.

// No console window on Windows release builds.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

mod commands;
mod footprint;
mod notify;
mod tray;
mod window;
mod window_process;

use redline::config::paths::Paths;
use redline::desktop::notify_policy::{Policy, PolicySettings};
use redline::desktop::tray_menu::{self, Action, MenuState};
use redline::serve::api::Api;
use redline::serve::daemon::{self, DaemonOptions};
use redline::tools::connect::notice::ToolNotice;
use redline::tools::tool_env::Shell;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;
use tauri::menu::MenuEvent;
use tauri::{AppHandle, Manager, RunEvent};
use tauri_plugin_autostart::{MacosLauncher, ManagerExt as _};
use tauri_plugin_clipboard_manager::ClipboardExt as _;
use tokio::sync::{Notify, mpsc, oneshot};
use window_process::{FromWindow, ToWindow, WindowProcess};

/// How long Quit waits for requests in progress to finish.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);
/// The notification policy re-reads the status this often even when nothing changes, so a
/// throttling episode can end after its quiet period; and the settings, so a change made in
/// the window (notifications off) applies.
const POLICY_TICK: Duration = Duration::from_secs(30);
/// How long after start-up, or after the window process ended, the idle app gives back the
/// memory it does not use: long enough for the engine to listen and the tray to be drawn.
const SETTLE_BEFORE_TRIM: Duration = Duration::from_secs(5);

const USAGE: &str = "\
redline-desktop: Redline in the tray, one status for your AI coding plans and API keys

Usage: redline-desktop [--hidden] [--demo]

Runs the Redline engine (the same as `redline daemon`: usage polling, the local proxy, the
dashboard and its API on proxy.listen) and shows its status in the tray: green, amber as a
limit approaches, red while a provider throttles you, with a notification that says why
(concurrency, rate, quota, overload, bad key) and what to do. The tray menu has everything;
the window shows the dashboard. Only one copy runs: starting it again opens the window.

Options:
  --hidden       start in the tray without opening the window (Start at login uses this)
  --demo         start on the built-in demo: simulated providers, agents and throttles, no
                 key needed. It also starts on the demo while no key is configured; adding
                 a key (the window's \"Add a real key\") leaves the demo for your accounts.
  -h, --help     print this help
  -V, --version  print the version and the git commit it was built from

Keys and settings are the same as the `redline` command's: see `redline --help`.
";

/// Command-line flags. Unknown arguments are reported and ignored (a desktop launcher may
/// add its own).
#[derive(Debug, Default, PartialEq, Eq)]
struct Flags {
    /// `--demo`: run the built-in demo instead of the configured accounts.
    demo: bool,
    /// `--hidden`: start in the tray without opening the window, as autostart does.
    hidden: bool,
    /// `--window`: be the window process of a running app (it starts this itself).
    window: bool,
    /// `--help` or `-h`: print the usage and exit.
    help: bool,
    /// `--version` or `-V`: print the version and exit.
    version: bool,
}

impl Flags {
    fn parse(args: impl IntoIterator<Item = String>) -> Self {
        let mut flags = Self::default();
        for arg in args {
            match arg.as_str() {
                "--demo" => flags.demo = true,
                "--hidden" => flags.hidden = true,
                window_process::WINDOW_FLAG => flags.window = true,
                "--help" | "-h" => flags.help = true,
                "--version" | "-V" => flags.version = true,
                other => eprintln!("redline-desktop: ignoring unknown argument {other:?}"),
            }
        }
        flags
    }
}

/// Where the engine is.
enum EngineState {
    Starting,
    Running(Api),
    /// It could not start or stopped on its own: why.
    Failed(String),
}

impl EngineState {
    fn api(&self) -> Option<Api> {
        match self {
            EngineState::Running(api) => Some(api.clone()),
            _ => None,
        }
    }

    /// What a new window process is told first (nothing while the engine starts).
    fn for_window(&self) -> Option<ToWindow> {
        match self {
            EngineState::Starting => None,
            EngineState::Running(api) => Some(ToWindow::connect(api)),
            EngineState::Failed(message) => Some(ToWindow::EngineFailed {
                message: message.clone(),
            }),
        }
    }
}

/// What the tray, the menu and Quit share.
struct Desktop {
    engine_state: Mutex<EngineState>,
    window: WindowProcess,
    policy: Mutex<Policy>,
    menu: Mutex<MenuState>,
    /// Wakes the tray after a menu choice changed what the menu shows.
    menu_changed: Notify,
    /// Ends the engine's `serve`.
    shutdown: Mutex<Option<oneshot::Sender<()>>>,
    engine: Mutex<Option<tauri::async_runtime::JoinHandle<()>>>,
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

fn main() {
    skip_gl_at_startup();
    let flags = Flags::parse(std::env::args().skip(1));
    if flags.help {
        return print!("{USAGE}");
    }
    if flags.version {
        return println!(
            "redline-desktop {} (commit {})",
            env!("CARGO_PKG_VERSION"),
            env!("REDLINE_GIT_COMMIT")
        );
    }
    if flags.window {
        return window::run();
    }

    let app = tauri::Builder::default()
        // First: a second launch hands over to the running app and exits.
        .plugin(tauri_plugin_single_instance::init(|app, _args, _cwd| {
            open_window(app, None)
        }))
        .plugin(autostart_plugin())
        .plugin(tauri_plugin_clipboard_manager::init())
        .manage(Desktop {
            engine_state: Mutex::new(EngineState::Starting),
            window: WindowProcess::default(),
            // Each window's level comes judged from the engine; only the switch is the policy's.
            policy: Mutex::new(Policy::new(PolicySettings { enabled: true })),
            menu: Mutex::new(MenuState::default()),
            menu_changed: Notify::new(),
            shutdown: Mutex::new(None),
            engine: Mutex::new(None),
        })
        .setup(move |app| {
            // A menu-bar app: no Dock icon, no app menu.
            #[cfg(target_os = "macos")]
            app.set_activation_policy(tauri::ActivationPolicy::Accessory);
            let start_at_login = app.autolaunch().is_enabled().unwrap_or(false);
            lock(&app.state::<Desktop>().menu).start_at_login = start_at_login;
            let tray = tray::build(app.handle(), on_menu_event)?;
            let (engines_tx, engines_rx) = mpsc::unbounded_channel();
            start_engine(app.handle(), flags.demo, engines_tx);
            tauri::async_runtime::spawn(follow_status(app.handle().clone(), tray, engines_rx));
            if !flags.hidden {
                open_window(app.handle(), None);
            }
            Ok(())
        })
        .build(tauri::generate_context!())
        .expect("redline-desktop: the Tauri runtime failed to start");

    app.run(|_, event| {
        // The tray app has no window of its own: it ends only when Quit exits with a code.
        if let RunEvent::ExitRequested {
            code: None, api, ..
        } = event
        {
            api.prevent_exit();
        }
    });
}

/// Start at login starts the app in the tray, without its window.
fn autostart_plugin<R: tauri::Runtime>() -> tauri::plugin::TauriPlugin<R> {
    tauri_plugin_autostart::init(MacosLauncher::LaunchAgent, Some(vec!["--hidden"]))
}

/// GTK 3 on X11 opens OpenGL at startup only to choose visuals, which maps the whole Mesa
/// driver (LLVM included: about 30 MB held for as long as the tray app runs). The tray needs
/// none of it and the dashboard renders well without it (WebKit then composites in software).
/// A `GDK_GL` the user set, even empty, is kept: `GDK_GL= redline-desktop` brings GL back.
fn skip_gl_at_startup() {
    #[cfg(target_os = "linux")]
    if std::env::var_os("GDK_GL").is_none() {
        // SAFETY: first thing in main, before any other thread exists.
        unsafe { std::env::set_var("GDK_GL", "disable") };
    }
}

/// Runs the engine inside the app: the configured accounts, or the built-in demo when asked
/// for or while no key is configured (until the first key is added). `engines` receives each
/// engine's API once it listens.
fn start_engine(app: &AppHandle, demo: bool, engines: mpsc::UnboundedSender<Api>) {
    let (shutdown_tx, shutdown_rx) = oneshot::channel::<()>();
    let handle = app.clone();
    let failed = app.clone();
    let watch_window = app.state::<Desktop>().window.watch_open();
    let engine = tauri::async_runtime::spawn(async move {
        let paths = match Paths::from_env() {
            Ok(paths) => paths,
            Err(err) => return engine_failed(&failed, err.to_string()),
        };
        let options = DaemonOptions {
            demo,
            // The demo's agents run while the window is open (benches/README.md, desktop_idle).
            demo_watched: Some(watch_window),
            ..DaemonOptions::default()
        };
        let shutdown = async move {
            let _ = shutdown_rx.await;
        };
        let on_ready = move |api: Api| {
            let desktop = handle.state::<Desktop>();
            *lock(&desktop.engine_state) = EngineState::Running(api.clone());
            // An open window learns where the engine is now.
            desktop.window.send(ToWindow::connect(&api));
            let _ = engines.send(api);
        };
        if let Err(err) = daemon::serve_accounts_or_demo(&paths, options, shutdown, on_ready).await
        {
            engine_failed(&failed, err.to_string());
        }
    });
    let desktop = app.state::<Desktop>();
    *lock(&desktop.shutdown) = Some(shutdown_tx);
    *lock(&desktop.engine) = Some(engine);
}

/// Says why the engine is not running where the user looks: a notification, the tray's
/// tooltip and title, and the window (now, or when it opens).
fn engine_failed(app: &AppHandle, message: String) {
    eprintln!("redline-desktop: the engine stopped: {message}");
    let desktop = app.state::<Desktop>();
    *lock(&desktop.engine_state) = EngineState::Failed(message.clone());
    desktop.window.send(ToWindow::EngineFailed {
        message: message.clone(),
    });
    if let Some(tray) = app.tray_by_id(tray::TRAY_ID) {
        let _ = tray.set_tooltip(Some(format!("Redline could not start: {message}")));
        let _ = tray.set_title(Some("!"));
    }
    notify::show_text("Redline could not start".into(), message, true);
}

/// After a pause, gives back the memory the app does not use while it sits in the tray (see
/// `footprint`): at start-up, and after the window closed (pages it shared with the window
/// process are kept while that runs).
fn trim_when_idle() {
    tauri::async_runtime::spawn(async move {
        tokio::time::sleep(SETTLE_BEFORE_TRIM).await;
        if let Err(err) = footprint::release_idle_memory() {
            eprintln!("redline-desktop: could not read this process's memory map: {err}");
        }
    });
}

/// Keeps the tray, the window and the notifications in step with the engine's status, and
/// follows a new engine when one replaces the demo.
async fn follow_status(
    app: AppHandle,
    tray: tauri::tray::TrayIcon,
    mut engines: mpsc::UnboundedReceiver<Api>,
) {
    let Some(mut api) = engines.recv().await else {
        return;
    };
    trim_when_idle();
    let desktop = app.state::<Desktop>();
    let mut shown = tray::Shown::default();
    let mut tick = tokio::time::interval(POLICY_TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        follow_settings(&api, &desktop);
        lock(&desktop.menu).proxy_on = api.proxy_enabled();
        let mut changes = api.status_changes();
        let mut tool_notices = api.tool_notices();
        api = loop {
            let status = changes.borrow_and_update().clone();
            let menu_state = *lock(&desktop.menu);
            tray::apply(&app, &tray, &mut shown, &status, menu_state);
            let notices = lock(&desktop.policy).observe(&status, jiff::Timestamp::now());
            notices.into_iter().for_each(notify::show);
            tokio::select! {
                next = engines.recv() => match next {
                    Some(next) => break next,
                    None => return,
                },
                changed = changes.changed() => {
                    if changed.is_err() {
                        // This engine stopped: Quit, or a new one is starting.
                        match engines.recv().await {
                            Some(next) => break next,
                            None => return,
                        }
                    }
                    desktop.window.send(ToWindow::StatusChanged);
                }
                _ = desktop.menu_changed.notified() => {}
                _ = tick.tick() => follow_settings(&api, &desktop),
                notice = tool_notices.recv() => {
                    if let Ok(notice) = notice {
                        tool_notice(&desktop, &notice);
                    }
                }
            }
        };
    }
}

/// A notice of the engine's tool watch: a notification (as the policy allows) and, when the
/// window is open, a line in the dashboard.
fn tool_notice(desktop: &Desktop, notice: &ToolNotice) {
    let shown = lock(&desktop.policy).tool_notice(notice, jiff::Timestamp::now());
    shown.into_iter().for_each(notify::show);
    if let Ok(notice) = serde_json::to_value(notice) {
        desktop.window.send(ToWindow::ToolNotice { notice });
    }
}

/// Gives the notification policy the on/off switch from the settings (the thresholds reach it
/// as the windows' levels in the status).
fn follow_settings(api: &Api, desktop: &Desktop) {
    if let Ok(settings) = api.settings() {
        lock(&desktop.policy).set_settings(PolicySettings {
            enabled: settings.notifications.enabled,
        });
    }
}

fn on_menu_event(app: &AppHandle, event: MenuEvent) {
    let id = event.id().as_ref();
    // Clicking an account line opens the dashboard, where its details are.
    if id.starts_with("info-") {
        return open_window(app, None);
    }
    let Some(action) = Action::from_id(id) else {
        return;
    };
    let desktop = app.state::<Desktop>();
    match action {
        Action::OpenDashboard => open_window(app, None),
        Action::ConnectTools => open_window(app, Some("tools")),
        Action::RefreshNow => {
            if let Some(api) = lock(&desktop.engine_state).api() {
                tauri::async_runtime::spawn(async move { api.refresh().await });
            }
        }
        Action::PauseHour | Action::PauseUntilTomorrow | Action::ResumeNotifications => {
            let until = tray_menu::pause_until(action, &jiff::ZonedDateTime::now());
            lock(&desktop.policy).pause_until(until);
            lock(&desktop.menu).paused_until = until;
        }
        Action::ToggleProxy => {
            if let Some(api) = lock(&desktop.engine_state).api() {
                api.set_proxy_enabled(!api.proxy_enabled());
                lock(&desktop.menu).proxy_on = api.proxy_enabled();
            }
        }
        Action::CopySetup => copy_setup(app),
        Action::ToggleStartAtLogin => {
            let autostart = app.autolaunch();
            let enable = !autostart.is_enabled().unwrap_or(false);
            let done = if enable {
                autostart.enable()
            } else {
                autostart.disable()
            };
            match done {
                Ok(()) => lock(&desktop.menu).start_at_login = enable,
                Err(err) => eprintln!("redline-desktop: could not change Start at login: {err}"),
            }
        }
        Action::Quit => return quit(app),
    }
    // Check items flip themselves when clicked; redraw from the state either way.
    desktop.menu_changed.notify_one();
}

/// Puts what each tool needs, for every account, on the clipboard (`redline env ID`).
fn copy_setup(app: &AppHandle) {
    let desktop = app.state::<Desktop>();
    let Some(api) = lock(&desktop.engine_state).api() else {
        return;
    };
    let app = app.clone();
    tauri::async_runtime::spawn(async move {
        let mut sections = Vec::new();
        for account in api.status().accounts {
            match api.tool_setup(&account.id, Shell::Sh, None).await {
                Ok(text) => sections.push((account.id, text)),
                Err(err) => eprintln!(
                    "redline-desktop: no setup for {} on the clipboard: {err}",
                    account.id
                ),
            }
        }
        if let Err(err) = app.clipboard().write_text(tray_menu::setup_text(&sections)) {
            eprintln!("redline-desktop: could not copy to the clipboard: {err}");
        }
    });
}

/// Stops the engine (the proxy lets requests in progress finish) and exits.
fn quit(app: &AppHandle) {
    let desktop = app.state::<Desktop>();
    desktop.window.close();
    if let Some(shutdown) = lock(&desktop.shutdown).take() {
        let _ = shutdown.send(());
    }
    let engine = lock(&desktop.engine).take();
    let app = app.clone();
    tauri::async_runtime::spawn(async move {
        if let Some(engine) = engine
            && tokio::time::timeout(DRAIN_TIMEOUT, engine).await.is_err()
        {
            eprintln!(
                "redline-desktop: requests still in progress after {DRAIN_TIMEOUT:?}; quitting anyway"
            );
        }
        app.exit(0);
    });
}

/// Brings the dashboard window to the front on `view` (a view of the dashboard, such as
/// `tools`), starting its process if it is not open.
fn open_window(app: &AppHandle, view: Option<&str>) {
    let desktop = app.state::<Desktop>();
    let on_message = {
        let app = app.clone();
        move |message| match message {
            FromWindow::AutostartChanged => {
                let desktop = app.state::<Desktop>();
                let enabled = app.autolaunch().is_enabled().unwrap_or(false);
                lock(&desktop.menu).start_at_login = enabled;
                desktop.menu_changed.notify_one();
            }
            // `window_process` keeps this one: the next "open" starts a new window.
            FromWindow::Closing => {}
        }
    };
    let on_exit = {
        let app = app.clone();
        move |pid| {
            app.state::<Desktop>().window.ended(pid);
            // The library pages the window process shared with this one can go now.
            trim_when_idle();
        }
    };
    let first = lock(&desktop.engine_state).for_window();
    desktop.window.open(first, view, on_message, on_exit);
}

#[cfg(test)]
mod tests;
