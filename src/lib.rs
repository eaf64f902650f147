//! Redline's engine: everything but the desktop shell. It owns the state and the logic; the
//! CLI, the daemon and the desktop app only wire it to a platform. Nothing here may depend on
//! Tauri, GTK or WebKit.

pub mod account_id;
pub mod agents;
pub mod api;
pub mod api_client;
pub mod config;
pub mod daemon;
pub mod demo;
pub mod engine_status;
pub mod error;
pub mod fakes;
pub mod fetch;
pub mod health;
pub mod history;
pub mod key_scan;
pub mod keys;
pub mod metrics;
pub mod monitor;
pub mod notify_policy;
pub mod paths;
pub mod poller;
pub mod providers;
pub mod proxy;
pub mod secret;
pub mod server;
pub mod settings;
pub mod snapshot;
pub mod status;
pub mod store;
pub mod surroundings;
pub mod throttle;
pub mod token;
pub mod tool_env;
pub mod traffic;
pub mod tray_icon;
pub mod tray_menu;
pub mod usage;
pub mod vault;
pub mod verify;

pub use error::Error;
