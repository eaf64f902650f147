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
pub struct Shown<R: Runtime> {
    kind: Option<IconKind>,
    title: Option<String>,
    tooltip: Option<String>,
    menu: Option<(Vec<Entry>, Vec<Native<R>>)>,
}

impl<R: Runtime> Default for Shown<R> {
    fn default() -> Self {
        Shown {
            kind: None,
            title: None,
            tooltip: None,
            menu: None,
        }
    }
}

/// A native menu item as built from an [`Entry`], kept to update its text and state in place.
enum Native<R: Runtime> {
    Text(MenuItem<R>),
    Check(CheckMenuItem<R>),
    Separator(PredefinedMenuItem<R>),
    Submenu(Submenu<R>, Vec<Native<R>>),
}

impl<R: Runtime> Native<R> {
    fn as_item(&self) -> &dyn IsMenuItem<R> {
        match self {
            Native::Text(item) => item,
            Native::Check(item) => item,
            Native::Separator(item) => item,
            Native::Submenu(menu, _) => menu,
        }
    }
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
        .menu(
            &native_menu(
                app,
                &tray_menu::menu(&empty, MenuState::default(), empty.generated_at),
            )?
            .0,
        )
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
    shown: &mut Shown<R>,
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
    let result = match shown.menu.take() {
        Some((before, natives)) if before == entries => Ok((before, natives)),
        // Same items, other texts or states: update them in place, keeping their ids.
        Some((before, natives)) if tray_menu::same_shape(&before, &entries) => {
            update_in_place(&natives, &before, &entries).map(|()| (entries, natives))
        }
        _ => native_menu(app, &entries).and_then(|(menu, natives)| {
            tray.set_menu(Some(menu))?;
            Ok((entries, natives))
        }),
    };
    match result {
        Ok(menu) => shown.menu = Some(menu),
        // Nothing is kept: the next status builds the whole menu again.
        Err(err) => eprintln!("redline-desktop: could not update the tray menu: {err}"),
    }
}

fn native_menu<R: Runtime>(
    app: &AppHandle<R>,
    entries: &[Entry],
) -> tauri::Result<(Menu<R>, Vec<Native<R>>)> {
    let menu = Menu::new(app)?;
    let natives = native_items(app, entries)?;
    for native in &natives {
        menu.append(native.as_item())?;
    }
    Ok((menu, natives))
}

/// Sets the texts and states that differ between `before` and `after`, two menus of the same
/// shape (`tray_menu::same_shape`), on the items built for `before`.
fn update_in_place<R: Runtime>(
    natives: &[Native<R>],
    before: &[Entry],
    after: &[Entry],
) -> tauri::Result<()> {
    for ((native, old), new) in natives.iter().zip(before).zip(after) {
        if old == new {
            continue;
        }
        match (native, old, new) {
            (Native::Text(item), _, Entry::Info(text)) => item.set_text(text)?,
            (Native::Text(item), _, Entry::Item { label, enabled, .. }) => {
                item.set_text(label)?;
                item.set_enabled(*enabled)?;
            }
            (Native::Check(item), _, Entry::Check { label, checked, .. }) => {
                item.set_text(label)?;
                item.set_checked(*checked)?;
            }
            (
                Native::Submenu(menu, children),
                Entry::Submenu { entries: old, .. },
                Entry::Submenu { label, entries },
            ) => {
                menu.set_text(label)?;
                update_in_place(children, old, entries)?;
            }
            _ => {}
        }
    }
    Ok(())
}

fn native_items<R: Runtime>(
    app: &AppHandle<R>,
    entries: &[Entry],
) -> tauri::Result<Vec<Native<R>>> {
    let mut items = Vec::new();
    for (index, entry) in entries.iter().enumerate() {
        items.push(match entry {
            // Information lines do nothing when clicked; disabled would grey them out.
            Entry::Info(text) => Native::Text(MenuItem::with_id(
                app,
                format!("info-{index}"),
                text,
                true,
                None::<&str>,
            )?),
            Entry::Separator => Native::Separator(PredefinedMenuItem::separator(app)?),
            Entry::Item {
                action,
                label,
                enabled,
            } => Native::Text(MenuItem::with_id(
                app,
                action.id(),
                label,
                *enabled,
                None::<&str>,
            )?),
            Entry::Check {
                action,
                label,
                checked,
            } => Native::Check(CheckMenuItem::with_id(
                app,
                action.id(),
                label,
                true,
                *checked,
                None::<&str>,
            )?),
            Entry::Submenu { label, entries } => {
                let children = native_items(app, entries)?;
                let mut builder: SubmenuBuilder<'_, R, AppHandle<R>> =
                    SubmenuBuilder::new(app, label);
                for child in &children {
                    builder = builder.item(child.as_item());
                }
                Native::Submenu(builder.build()?, children)
            }
        });
    }
    Ok(items)
}
