//! The window's commands. The window runs in a process of its own (see `window`); each command
//! is one call to the engine's local JSON API in the tray process, so the window does exactly
//! what the dashboard does over HTTP. Answers and errors pass through unchanged; errors are the
//! same `{"error":{"code","message"}}` object.

use redline::keys::secret::Secret;
use redline::serve::api::secret_field;
use redline::serve::api_client::{ApiClient, Call, Method};
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::{Arc, PoisonError, RwLock};
use tauri::{AppHandle, Manager, Runtime, State};
use tauri_plugin_autostart::AutoLaunchManager;

/// What a command answers: the engine's JSON, or its error object.
type Answer = Result<Value, Value>;

/// The engine as the tray process last described it. It changes when the demo gives way to
/// the user's accounts.
#[derive(Default)]
pub struct Engine {
    link: RwLock<Link>,
}

#[derive(Clone, Default)]
enum Link {
    /// Commands say Redline is starting.
    #[default]
    Starting,
    Running(Arc<ApiClient>),
    /// Commands say why the engine is not running.
    Failed(String),
}

impl Engine {
    pub fn connect(&self, client: ApiClient) {
        self.set(Link::Running(Arc::new(client)));
    }

    pub fn failed(&self, message: String) {
        self.set(Link::Failed(message));
    }

    fn set(&self, link: Link) {
        *self.link.write().unwrap_or_else(PoisonError::into_inner) = link;
    }

    async fn send(&self, call: Call<'_>) -> Answer {
        let link = self
            .link
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        match link {
            Link::Running(client) => client.send(call).await,
            Link::Starting => Err(error(
                "starting",
                "Redline is still starting; try again in a moment.",
            )),
            Link::Failed(message) => Err(error(
                "engine_failed",
                &format!("Redline could not start: {message}"),
            )),
        }
    }

    async fn get(&self, path: &[&str]) -> Answer {
        self.send(Call {
            path,
            ..Call::default()
        })
        .await
    }

    async fn post(&self, path: &[&str], body: Option<Value>) -> Answer {
        self.send(Call {
            method: Method::POST,
            path,
            body,
            ..Call::default()
        })
        .await
    }
}

fn error(code: &str, message: &str) -> Value {
    json!({"error": {"code": code, "message": message}})
}

/// A secret argument, read without ever being quoted in an error.
#[derive(Deserialize)]
#[serde(transparent)]
pub struct SecretArg(#[serde(deserialize_with = "secret_field")] Secret);

#[tauri::command]
pub async fn get_status(engine: State<'_, Engine>) -> Answer {
    engine.get(&["status"]).await
}

#[tauri::command]
pub async fn refresh(engine: State<'_, Engine>) -> Answer {
    engine.post(&["refresh"], None).await
}

#[tauri::command]
pub async fn list_keys(engine: State<'_, Engine>) -> Answer {
    engine.get(&["keys"]).await
}

/// `request` is checked by the engine, which never quotes the secret in it.
#[tauri::command]
pub async fn add_key(engine: State<'_, Engine>, request: Value) -> Answer {
    engine.post(&["keys"], Some(request)).await
}

#[tauri::command]
pub async fn test_key(engine: State<'_, Engine>, id: String) -> Answer {
    engine.post(&["keys", &id, "test"], None).await
}

#[tauri::command]
pub async fn rotate_key(
    engine: State<'_, Engine>,
    id: String,
    secret: SecretArg,
    verify: Option<bool>,
) -> Answer {
    let body = json!({"secret": secret.0.expose(), "verify": verify.unwrap_or(true)});
    engine.post(&["keys", &id, "rotate"], Some(body)).await
}

#[tauri::command]
pub async fn rollback_key(engine: State<'_, Engine>, id: String) -> Answer {
    engine.post(&["keys", &id, "rollback"], None).await
}

#[tauri::command]
pub async fn remove_key(engine: State<'_, Engine>, id: String) -> Answer {
    engine
        .send(Call {
            method: Method::DELETE,
            path: &["keys", &id],
            ..Call::default()
        })
        .await
}

#[tauri::command]
pub async fn get_settings(engine: State<'_, Engine>) -> Answer {
    engine.get(&["settings"]).await
}

#[tauri::command]
pub async fn save_settings(engine: State<'_, Engine>, changes: BTreeMap<String, String>) -> Answer {
    engine
        .send(Call {
            method: Method::PUT,
            path: &["settings"],
            body: Some(json!(changes)),
            ..Call::default()
        })
        .await
}

/// What each tool needs for one account, or one tool's (`redline env ID [--tool TOOL]`; a
/// JSON string).
#[tauri::command]
pub async fn tool_setup(
    engine: State<'_, Engine>,
    id: String,
    shell: Option<String>,
    tool: Option<String>,
) -> Answer {
    let mut query = vec![("shell", shell.unwrap_or_else(|| "sh".into()))];
    if let Some(tool) = tool.filter(|t| !t.is_empty()) {
        query.push(("tool", tool));
    }
    engine
        .send(Call {
            path: &["keys", &id, "setup"],
            query: &query,
            ..Call::default()
        })
        .await
}

/// The tools Redline can connect, where each points, and which accounts each can use.
#[tauri::command]
pub async fn list_tools(engine: State<'_, Engine>) -> Answer {
    engine.get(&["tools"]).await
}

/// What connecting `tool` to `account` would change (the token masked).
#[tauri::command]
pub async fn preview_connect(engine: State<'_, Engine>, tool: String, account: String) -> Answer {
    engine
        .post(
            &["tools", &tool, "preview"],
            Some(json!({"account": account})),
        )
        .await
}

/// Points `tool` at Redline for `account`, and proves it with one request.
#[tauri::command]
pub async fn connect_tool(engine: State<'_, Engine>, tool: String, account: String) -> Answer {
    engine
        .post(
            &["tools", &tool, "connect"],
            Some(json!({"account": account})),
        )
        .await
}

/// Takes Redline back out of `tool`'s config file.
#[tauri::command]
pub async fn disconnect_tool(engine: State<'_, Engine>, tool: String) -> Answer {
    engine.post(&["tools", &tool, "disconnect"], None).await
}

#[tauri::command]
pub async fn list_providers(engine: State<'_, Engine>) -> Answer {
    engine.get(&["providers"]).await
}

/// The words for the ids in the status (levels, causes, providers, windows).
#[tauri::command]
pub async fn get_vocabulary(engine: State<'_, Engine>) -> Answer {
    engine.get(&["vocabulary"]).await
}

/// The charts' series for one account over a `day` or a `week`.
#[tauri::command]
pub async fn get_history(engine: State<'_, Engine>, account: String, range: String) -> Answer {
    engine
        .send(Call {
            path: &["history"],
            query: &[("account", account), ("range", range)],
            ..Call::default()
        })
        .await
}

/// The recent refusals, newest first, for the Events view.
#[tauri::command]
pub async fn list_throttles(engine: State<'_, Engine>, limit: Option<usize>) -> Answer {
    engine
        .send(Call {
            path: &["throttles"],
            query: &[("limit", limit.unwrap_or(200).to_string())],
            ..Call::default()
        })
        .await
}

/// Whether the app starts at login (the Settings box mirrors the tray menu's).
#[tauri::command]
pub fn get_autostart<R: Runtime>(app: AppHandle<R>) -> Answer {
    let enabled = autostart(&app)?
        .is_enabled()
        .map_err(|err| autostart_error("read", err))?;
    Ok(json!(enabled))
}

/// Changes Start at login; the tray process is told, so its menu shows the same.
#[tauri::command]
pub fn set_autostart<R: Runtime>(app: AppHandle<R>, enabled: bool) -> Answer {
    let manager = autostart(&app)?;
    let done = if enabled {
        manager.enable()
    } else {
        manager.disable()
    };
    done.map_err(|err| autostart_error("change", err))?;
    crate::window::tell_tray(crate::window_process::FromWindow::AutostartChanged);
    Ok(Value::Null)
}

fn autostart<R: Runtime>(app: &AppHandle<R>) -> Result<State<'_, AutoLaunchManager>, Value> {
    app.try_state::<AutoLaunchManager>().ok_or_else(|| {
        error(
            "autostart_unavailable",
            "Start at login is not available here; use your desktop's autostart settings.",
        )
    })
}

fn autostart_error(action: &str, err: impl std::fmt::Display) -> Value {
    error(
        "autostart",
        &format!(
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
            $crate::commands::list_tools,
            $crate::commands::preview_connect,
            $crate::commands::connect_tool,
            $crate::commands::disconnect_tool,
            $crate::commands::list_providers,
            $crate::commands::get_vocabulary,
            $crate::commands::get_history,
            $crate::commands::list_throttles,
            $crate::commands::get_autostart,
            $crate::commands::set_autostart,
        ]
    };
}

/// The command names the app ACL manifest declares (the same list build.rs reads).
#[cfg(test)]
pub const COMMANDS: &[&str] = include!("command_names.rs");
