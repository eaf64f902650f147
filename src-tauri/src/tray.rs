//! The tray icon, title, tooltip and menu, redrawn from the engine's status. The picture,
//! text and menu are computed by the engine (`tray_icon`, `tray_menu`); this only applies what
//! changed.

use redline::desktop::tray_icon::{self, IconKind};
use redline::desktop::tray_menu::{self, Entry, MenuState};
use redline::status::model::Status;
use tauri::image::Image;
use tauri::menu::{
    CheckMenuItem, IsMenuItem, Menu, MenuItem, PredefinedMenuItem, Submenu, SubmenuBuilder,
};
use tauri::tray::{TrayIcon, TrayIconBuilder};
use tauri::{AppHandle, Runtime};

pub const TRAY_ID: &str = "redline";

/// What is on screen now, so only changes reach the platform.
#[derive(Default)]
pub struct Shown {
    kind: Option<IconKind>,
    title: Option<String>,
    tooltip: Option<String>,
    menu: Option<Vec<Entry>>,
}

pub fn build<R: Runtime>(
    app: &AppHandle<R>,
    on_menu: impl Fn(&AppHandle<R>, tauri::menu::MenuEvent) + Send + Sync + 'static,
) -> tauri::Result<TrayIcon<R>> {
    // Appindicator publishes the item once it has a menu; start with the empty status's.
    let empty = Status {
        level: redline::status::health::Level::Unknown,
        generated_at: jiff::Timestamp::now(),
        accounts: vec![],
        demo: false,
        agents: vec![],
        process: None,
    };
    let kind = tray_icon::icon_kind(&empty);
    TrayIconBuilder::with_id(TRAY_ID)
        .icon(image(kind))
        .tooltip("Redline: starting")
        .menu(&native_menu(
            app,
            &tray_menu::menu(&empty, MenuState::default(), empty.generated_at),
        )?)
        .show_menu_on_left_click(true)
        .on_menu_event(on_menu)
        .build(app)
}

fn image(kind: IconKind) -> Image<'static> {
    let icon = tray_icon::render(kind);
    Image::new_owned(icon.pixels, icon.width, icon.height)
}

/// Applies `status` to the tray, touching only what changed.
pub fn apply<R: Runtime>(
    app: &AppHandle<R>,
    tray: &TrayIcon<R>,
    shown: &mut Shown,
    status: &Status,
    state: MenuState,
) {
    let now = jiff::Timestamp::now();
    let kind = tray_icon::icon_kind(status);
    if shown.kind != Some(kind) {
        match tray.set_icon(Some(image(kind))) {
            Ok(()) => shown.kind = Some(kind),
            Err(err) => eprintln!("redline-desktop: could not update the tray icon: {err}"),
        }
    }
    let title = tray_icon::title(status);
    if shown.title.as_ref() != Some(&title) {
        if let Err(err) = tray.set_title(Some(&title)) {
            eprintln!("redline-desktop: could not update the tray title: {err}");
        }
        shown.title = Some(title);
    }
    let tooltip = tray_icon::tooltip(status, now);
    if shown.tooltip.as_ref() != Some(&tooltip) {
        if let Err(err) = tray.set_tooltip(Some(&tooltip)) {
            eprintln!("redline-desktop: could not update the tray tooltip: {err}");
        }
        shown.tooltip = Some(tooltip);
    }
    let entries = tray_menu::menu(status, state, now);
    if shown.menu.as_ref() != Some(&entries) {
        match native_menu(app, &entries).and_then(|menu| tray.set_menu(Some(menu))) {
            Ok(()) => shown.menu = Some(entries),
            Err(err) => eprintln!("redline-desktop: could not update the tray menu: {err}"),
        }
    }
}

fn native_menu<R: Runtime>(app: &AppHandle<R>, entries: &[Entry]) -> tauri::Result<Menu<R>> {
    let menu = Menu::new(app)?;
    for item in native_items(app, entries)? {
        menu.append(item.as_ref())?;
    }
    Ok(menu)
}

fn native_items<R: Runtime>(
    app: &AppHandle<R>,
    entries: &[Entry],
) -> tauri::Result<Vec<Box<dyn IsMenuItem<R>>>> {
    let mut items: Vec<Box<dyn IsMenuItem<R>>> = Vec::new();
    for (index, entry) in entries.iter().enumerate() {
        match entry {
            // Information lines do nothing when clicked; disabled would grey them out.
            Entry::Info(text) => items.push(Box::new(MenuItem::with_id(
                app,
                format!("info-{index}"),
                text,
                true,
                None::<&str>,
            )?)),
            Entry::Separator => items.push(Box::new(PredefinedMenuItem::separator(app)?)),
            Entry::Item {
                action,
                label,
                enabled,
            } => items.push(Box::new(MenuItem::with_id(
                app,
                action.id(),
                label,
                *enabled,
                None::<&str>,
            )?)),
            Entry::Check {
                action,
                label,
                checked,
            } => items.push(Box::new(CheckMenuItem::with_id(
                app,
                action.id(),
                label,
                true,
                *checked,
                None::<&str>,
            )?)),
            Entry::Submenu { label, entries } => {
                let mut builder: SubmenuBuilder<'_, R, AppHandle<R>> =
                    SubmenuBuilder::new(app, label);
                for item in native_items(app, entries)? {
                    builder = builder.item(item.as_ref());
                }
                let submenu: Submenu<R> = builder.build()?;
                items.push(Box::new(submenu));
            }
        }
    }
    Ok(items)
}
