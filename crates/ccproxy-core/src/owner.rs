//! Proof that a caller is the server's owner, for the one request that changes what the server
//! lets others do: `PUT /api/settings` (it can widen Claude Code mode's tools and permissions,
//! change the address others connect to, or set the API token and lock everyone else out).
//!
//! With `security.auth_token` set, the token is that proof (the guard has checked it before the
//! route runs). Without one, any local process could reach the route, so the caller must send the
//! **owner key** in [`HEADER`]: 32 random bytes made once per process (the same across restarts
//! of the server inside it, so an open page keeps working when settings move it to a new port),
//! never logged, never served over HTTP. Only the owner's own programs have it:
//!
//! - the desktop app opens its window on [`link`] (the key in the URL's fragment, which browsers
//!   never send to the server), and the web UI keeps it in its origin's `localStorage`;
//! - `ccproxy serve` publishes the link in `owner.json` in CCProxy's data folder (mode 0600, in a
//!   0700 folder: other users cannot read it), where `ccproxy ui` reads it to open the browser.
//!
//! A web page cannot use it either: it cannot read the file or another origin's storage, a custom
//! header makes a cross-origin request preflighted (and the CORS layer does not allow it), and the
//! guard refuses cross-site requests that act before this check is reached.

use crate::config::Config;
use crate::error::ApiError;
use axum::http::HeaderMap;
use ccproxy_protocol::error::ErrorKind;
use secrecy::{ExposeSecret, SecretString};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::OnceLock;
use subtle::ConstantTimeEq;

/// The request header that carries the owner key.
pub const HEADER: &str = "x-ccproxy-owner";

/// The file in CCProxy's data folder where a running server publishes its owner link.
pub const FILE_NAME: &str = "owner.json";

/// This process's owner key, made on first use.
pub fn key() -> &'static SecretString {
    static KEY: OnceLock<SecretString> = OnceLock::new();
    KEY.get_or_init(|| crate::api_token::generate().into())
}

/// The web UI's address for a client on this machine: an unspecified bind address (`0.0.0.0`,
/// `::`) is reached on loopback.
pub fn ui_origin(addr: SocketAddr) -> String {
    let ip = match addr.ip() {
        ip if ip.is_unspecified() && ip.is_ipv4() => std::net::Ipv4Addr::LOCALHOST.into(),
        ip if ip.is_unspecified() => std::net::Ipv6Addr::LOCALHOST.into(),
        ip => ip,
    };
    format!("http://{}", SocketAddr::new(ip, addr.port()))
}

/// The web UI at `page` (`status`, `dashboard`, …) with the owner key in the fragment; the page
/// stores the key and takes it out of the address bar.
pub fn link(addr: SocketAddr, page: &str) -> String {
    format!("{}/{page}#owner={}", ui_origin(addr), key().expose_secret())
}

/// Where [`publish`] writes, when there is a data folder.
pub fn published_file(config: &Config) -> Option<PathBuf> {
    config.env.data_dir.as_ref().map(|d| d.join(FILE_NAME))
}

/// Writes `{"url": …, "link": …}` for the server at `addr` to [`published_file`] (0600, atomic).
/// A failure is logged, not fatal: the desktop window and the API token still work.
pub fn publish(config: &Config, addr: SocketAddr) {
    let Some(path) = published_file(config) else {
        return;
    };
    let doc = serde_json::json!({
        "url": ui_origin(addr),
        "link": link(addr, "status"),
        "pid": std::process::id(),
    });
    let mut bytes = serde_json::to_vec_pretty(&doc).unwrap_or_default();
    bytes.push(b'\n');
    if let Err(e) = crate::credentials::file::write_atomic(&path, &bytes) {
        tracing::warn!(path = %path.display(), "cannot publish the web UI's owner link: {e}");
    }
}

/// Whether the request proves its caller is the owner: a configured API token (checked by the
/// guard already, so reaching here with one set is proof), or the owner key in [`HEADER`].
pub fn check(config: &Config, headers: &HeaderMap) -> Result<(), ApiError> {
    if config.security.auth_token.is_some() {
        return Ok(());
    }
    let presented = headers.get(HEADER).map(|v| v.as_bytes());
    let expected = key().expose_secret().as_bytes();
    if presented.is_some_and(|given| bool::from(given.ct_eq(expected))) {
        return Ok(());
    }
    Err(ApiError::new(
        ErrorKind::Permission,
        if presented.is_some() {
            "this owner key is not this server's (it changes when ccproxy restarts): open the web \
             UI again from the tray app or with `ccproxy ui`"
        } else {
            "changing settings needs proof that you own this server: open the web UI from the \
             tray app or with `ccproxy ui`, or set an API token (security.auth_token) and send it"
        },
    ))
}
