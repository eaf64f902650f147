//! Serving the engine: `daemon` (`redline daemon`), `demo` (the built-in demo), `api` (what a
//! view may ask of the engine), `api_client` (the same over HTTP, for another process),
//! `router` (the local port), `listener` (its connections and their bounds), `access` (who
//! may use it), `api_routes` (the JSON API) and `metrics` (Prometheus); `runtime_file` says
//! where a running engine listens; `resident` lets go of the pages only starting up used.

pub mod access;
pub mod api;
pub mod api_client;
mod api_routes;
pub mod daemon;
pub mod demo;
pub mod listener;
pub mod metrics;
mod resident;
pub mod router;
pub mod runtime_file;
