//! The user's AI tools: `agents` (which are running), `key_scan` (which tool holds which
//! key), `tool_env` (`redline env`: pointing a tool at the proxy), `surroundings` (the
//! daemon's slow background watch of all three), `request_tool` (which tool sent a proxied
//! request), `socket_owner` (which process is at the other end of a connection) and `connect`
//! (editing a tool's own config file so it goes through Redline).

pub mod agents;
pub mod connect;
pub mod key_scan;
pub mod request_tool;
pub mod socket_owner;
pub mod surroundings;
pub mod tool_env;
