//! CCProxy's core: the server and everything it needs, with no GUI dependency.
//!
//! Invariant: this crate never depends on tauri or any GUI crate; the CLI and the desktop app
//! are thin shells over [`server::start`].

pub mod access_log;
pub mod alerts;
pub mod api_token;
pub mod billing;
pub mod body;
pub mod claude_code;
pub mod client_setup;
pub mod clock;
pub mod config;
pub mod credentials;
pub mod error;
pub mod exchange;
pub mod login;
pub mod metrics;
pub mod owner;
pub mod pricing;
pub mod private;
pub mod quota;
pub mod record;
pub mod redact;
pub mod request_log;
pub mod response_store;
pub mod server;
pub mod settings;
pub mod state;
pub mod telemetry;
pub mod upstream;
pub mod version_floor;

mod cors;
mod extract;
mod guard;
mod observe;
mod routes;
