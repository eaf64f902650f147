//! The window's commands: thin wrappers over the running engine's [`Api`], so the window does
//! exactly what the dashboard does over HTTP. Errors are the same `{"error":{"code","message"}}`.

use redline::api::{
    AddKey, Api, ApiError, ProviderInfo, Settings, ThrottleRecord, parse_shell, secret_field,
};
use redline::history::History;
use redline::keys::{KeyInfo, TestResult};
use redline::secret::Secret;
use redline::status::Status;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::sync::OnceLock;
use tauri::{AppHandle, Manager, Runtime, State};
use tauri_plugin_autostart::AutoLaunchManager;

/// The engine once it listens; commands before that say it is starting.
#[derive(Default)]
pub struct Engine {
    api: OnceLock<Api>,
}

impl Engine {
    #[cfg(test)]
    pub fn ready(api: Api) -> Engine {
        let engine = Engine::default();
        engine.set(api);
        engine
    }

    pub fn set(&self, api: Api) {
        let _ = self.api.set(api);
    }

    pub fn api(&self) -> Result<&Api, ApiError> {
        self.api.get().ok_or_else(|| {
            ApiError::new(
                503,
                "starting",
                "Redline is still starting; try again in a moment.",
            )
        })
    }
}

/// A secret argument, read without ever being quoted in an error.
#[derive(Deserialize)]
#[serde(transparent)]
pub struct SecretArg(#[serde(deserialize_with = "secret_field")] Secret);

#[tauri::command]
pub fn get_status(engine: State<'_, Engine>) -> Result<Status, ApiError> {
    Ok(engine.api()?.status())
}

#[tauri::command]
pub async fn refresh(engine: State<'_, Engine>) -> Result<Status, ApiError> {
    Ok(engine.api()?.refresh().await)
}

#[tauri::command]
pub fn list_keys(engine: State<'_, Engine>) -> Result<Vec<KeyInfo>, ApiError> {
    engine.api()?.list_keys()
}

#[tauri::command]
pub async fn add_key(engine: State<'_, Engine>, request: AddKey) -> Result<KeyInfo, ApiError> {
    engine.api()?.add_key(request).await
}

#[tauri::command]
pub async fn test_key(engine: State<'_, Engine>, id: String) -> Result<TestResult, ApiError> {
    engine.api()?.test_key(&id).await
}

#[tauri::command]
pub async fn rotate_key(
    engine: State<'_, Engine>,
    id: String,
    secret: SecretArg,
    verify: Option<bool>,
) -> Result<KeyInfo, ApiError> {
    engine
        .api()?
        .rotate_key(&id, secret.0, verify.unwrap_or(true))
        .await
}

#[tauri::command]
pub async fn rollback_key(engine: State<'_, Engine>, id: String) -> Result<KeyInfo, ApiError> {
    engine.api()?.rollback_key(&id).await
}

#[tauri::command]
pub async fn remove_key(engine: State<'_, Engine>, id: String) -> Result<(), ApiError> {
    engine.api()?.remove_key(&id).await
}

#[tauri::command]
pub fn get_settings(engine: State<'_, Engine>) -> Result<Settings, ApiError> {
    engine.api()?.settings()
}

#[tauri::command]
pub fn save_settings(
    engine: State<'_, Engine>,
    changes: BTreeMap<String, String>,
) -> Result<Settings, ApiError> {
    engine.api()?.save_settings(changes)
}

#[tauri::command]
pub fn tool_setup(
    engine: State<'_, Engine>,
    id: String,
    shell: Option<String>,
) -> Result<String, ApiError> {
    let shell = parse_shell(shell.as_deref().unwrap_or("sh"))?;
    engine.api()?.tool_setup(&id, shell)
}

#[tauri::command]
pub fn list_providers(engine: State<'_, Engine>) -> Result<Vec<ProviderInfo>, ApiError> {
    Ok(engine.api()?.providers())
}

/// The charts' series for one account over a `day` or a `week`.
#[tauri::command]
pub async fn get_history(
    engine: State<'_, Engine>,
    account: String,
    range: String,
) -> Result<History, ApiError> {
    engine.api()?.history(&account, &range).await
}

/// The recent refusals, newest first, for the Events view.
#[tauri::command]
pub fn list_throttles(
    engine: State<'_, Engine>,
    limit: Option<usize>,
) -> Result<Vec<ThrottleRecord>, ApiError> {
    Ok(engine.api()?.throttle_log(limit.unwrap_or(200)))
}

/// Whether the app starts at login (the Settings box mirrors the tray menu's).
#[tauri::command]
pub fn get_autostart<R: Runtime>(app: AppHandle<R>) -> Result<bool, ApiError> {
    autostart(&app)?
        .is_enabled()
        .map_err(|err| autostart_error("read", err))
}

#[tauri::command]
pub fn set_autostart<R: Runtime>(app: AppHandle<R>, enabled: bool) -> Result<(), ApiError> {
    let manager = autostart(&app)?;
    let done = if enabled {
        manager.enable()
    } else {
        manager.disable()
    };
    done.map_err(|err| autostart_error("change", err))?;
    if let Some(desktop) = app.try_state::<crate::Desktop>() {
        crate::lock(&desktop.menu).start_at_login = enabled;
        desktop.menu_changed.notify_one();
    }
    Ok(())
}

fn autostart<R: Runtime>(app: &AppHandle<R>) -> Result<State<'_, AutoLaunchManager>, ApiError> {
    app.try_state::<AutoLaunchManager>().ok_or_else(|| {
        ApiError::new(
            501,
            "autostart_unavailable",
            "Start at login is not available here; use your desktop's autostart settings.",
        )
    })
}

fn autostart_error(action: &str, err: impl std::fmt::Display) -> ApiError {
    ApiError::new(
        500,
        "autostart",
        format!(
            "Could not {action} Start at login: {err}. Check your desktop's autostart settings."
        ),
    )
}

/// Every command, for the builder and the tests.
#[macro_export]
macro_rules! all_commands {
    () => {
        tauri::generate_handler![
            $crate::commands::get_status,
            $crate::commands::refresh,
            $crate::commands::list_keys,
            $crate::commands::add_key,
            $crate::commands::test_key,
            $crate::commands::rotate_key,
            $crate::commands::rollback_key,
            $crate::commands::remove_key,
            $crate::commands::get_settings,
            $crate::commands::save_settings,
            $crate::commands::tool_setup,
            $crate::commands::list_providers,
            $crate::commands::get_history,
            $crate::commands::list_throttles,
            $crate::commands::get_autostart,
            $crate::commands::set_autostart,
        ]
    };
}

/// The command names, as the app ACL manifest declares them (build.rs keeps its own copy).
#[cfg(test)]
pub const COMMANDS: [&str; 16] = [
    "get_status",
    "refresh",
    "list_keys",
    "add_key",
    "test_key",
    "rotate_key",
    "rollback_key",
    "remove_key",
    "get_settings",
    "save_settings",
    "tool_setup",
    "list_providers",
    "get_history",
    "list_throttles",
    "get_autostart",
    "set_autostart",
];
