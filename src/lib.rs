//! Redline's engine: everything but the desktop shell. It owns the state and the logic; the
//! CLI, the daemon and the desktop app only wire it to a platform. Nothing here may depend on
//! Tauri, GTK or WebKit.

pub mod config;
pub mod desktop;
pub mod durations;
pub mod error;
pub mod fakes;
pub mod history;
pub mod keys;
pub mod lanes;
pub mod poll;
pub mod providers;
pub mod proxy;
pub mod serve;
pub mod shared;
pub mod status;
pub mod tools;

#[cfg(test)]
mod props;

pub use error::Error;
