//! Log output: a `tracing` subscriber writing text or JSON lines to stderr.
//!
//! Noisy transport crates (hyper, h2, rustls, reqwest) are held at `warn` unless the filter
//! names them, so a global `debug`/`trace` never dumps connection internals.

use crate::config::{LogFormat, ServerConfig};
use std::io::IsTerminal;
use tracing_subscriber::EnvFilter;

const QUIET: [&str; 5] = ["hyper", "hyper_util", "h2", "rustls", "reqwest"];

/// Why logging could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    #[error("invalid log filter `{level}`: {reason}")]
    Filter { level: String, reason: String },
    #[error("{0}")]
    Install(String),
}

/// The filter for `server.log_level`, with transport crates quieted.
pub fn filter(level: &str) -> Result<EnvFilter, TelemetryError> {
    let mut directives = level.to_string();
    for krate in QUIET {
        if !level.contains(krate) {
            directives.push_str(&format!(",{krate}=warn"));
        }
    }
    EnvFilter::builder()
        .parse(&directives)
        .map_err(|e| TelemetryError::Filter {
            level: level.to_string(),
            reason: e.to_string(),
        })
}

/// Installs the global subscriber. Fails if one is already installed.
pub fn init(server: &ServerConfig) -> Result<(), TelemetryError> {
    let filter = filter(&server.log_level)?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    let result = match server.log_format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
    result.map_err(|e| TelemetryError::Install(e.to_string()))
}
