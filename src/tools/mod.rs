//! The user's AI tools: `agents` (which are running), `key_scan` (which tool holds which
//! key), `tool_env` (`redline env`: pointing a tool at the proxy) and `surroundings` (the
//! daemon's slow background watch of all three).

pub mod agents;
pub mod key_scan;
pub mod surroundings;
pub mod tool_env;
