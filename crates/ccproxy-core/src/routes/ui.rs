//! The web UI (`ui/`, embedded in the binary so it works headless) and the two routes only it
//! needs: `GET`/`PUT /api/settings` (changes from the owner only: [`crate::owner`]) and
//! `POST /api/token`.
//!
//! The page and its assets are open (they hold no data, and a browser cannot send the API token
//! to load them); everything they show comes from the token-protected API.

use crate::error::ApiError;
use crate::extract::ApiJson;
use crate::owner;
use crate::settings::{self, SettingsError};
use crate::state::AppState;
use axum::extract::{FromRequest, Path, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use ccproxy_protocol::error::ErrorKind;
use serde_json::{json, Value};
use std::sync::Arc;

/// The embedded files: path under `/ui/`, content type, bytes.
const ASSETS: [(&str, &str, &[u8]); 6] = [
    (
        "app.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../../../ui/app.js"),
    ),
    (
        "app.css",
        "text/css; charset=utf-8",
        include_bytes!("../../../../ui/app.css"),
    ),
    (
        "icon.png",
        "image/png",
        include_bytes!("../../../../icons/32x32.png"),
    ),
    (
        "vendor/uplot/uPlot.iife.min.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../../../ui/vendor/uplot/uPlot.iife.min.js"),
    ),
    (
        "vendor/uplot/uPlot.min.css",
        "text/css; charset=utf-8",
        include_bytes!("../../../../ui/vendor/uplot/uPlot.min.css"),
    ),
    (
        "vendor/uplot/LICENSE",
        "text/plain; charset=utf-8",
        include_bytes!("../../../../ui/vendor/uplot/LICENSE"),
    ),
];

const INDEX: &[u8] = include_bytes!("../../../../ui/index.html");

fn asset(content_type: &'static str, bytes: &'static [u8]) -> Response {
    let mut r = bytes.into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    r
}

/// `GET /` and every path of [`PAGES`]: the UI.
pub async fn index() -> Response {
    let mut r = asset("text/html; charset=utf-8", INDEX);
    r.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; \
             connect-src 'self' http://127.0.0.1:* http://localhost:*; frame-ancestors 'none'",
        ),
    );
    r.headers_mut()
        .insert("x-frame-options", HeaderValue::from_static("DENY"));
    r
}

/// The UI's pages, each served at a path of its own (the page's script shows the one asked for).
pub const PAGES: [&str; 6] = [
    "/status",
    "/login",
    "/token",
    "/connect",
    "/dashboard",
    "/settings",
];

/// `GET /favicon.ico` (browsers ask for it whatever the page says).
pub async fn favicon() -> Response {
    asset("image/png", include_bytes!("../../../../icons/32x32.png"))
}

/// `GET /ui/{*path}`
pub async fn file(Path(path): Path<String>) -> Response {
    match ASSETS.iter().find(|(p, _, _)| *p == path) {
        Some((_, content_type, bytes)) => asset(content_type, bytes),
        None => ApiError::new(ErrorKind::NotFound, format!("no UI file `{path}`")).into_response(),
    }
}

/// `GET /api/settings`: the values the UI may change, their sources and whether they can be.
pub async fn get_settings(State(state): State<Arc<AppState>>) -> Json<Value> {
    Json(settings::describe(&state.config, &state.settings))
}

/// `PUT /api/settings` with `{"key": value, …}`: from the owner only ([`owner::check`], before
/// the body is read), checked, written, then the server restarts.
pub async fn put_settings(State(state): State<Arc<AppState>>, request: Request) -> Response {
    if let Err(refused) = owner::check(&state.config, request.headers()) {
        let (parts, body) = request.into_parts();
        let limit = state.max_body_bytes();
        return crate::body::answer_unread(limit, &parts.headers, body, refused.into_response())
            .await;
    }
    match ApiJson::<Value>::from_request(request, &state).await {
        Ok(ApiJson(body)) => apply_settings(&state, &body).unwrap_or_else(|e| e.into_response()),
        Err(e) => e.into_response(),
    }
}

fn apply_settings(state: &AppState, body: &Value) -> Result<Response, ApiError> {
    let changes = body.as_object().ok_or_else(|| {
        ApiError::new(
            ErrorKind::InvalidRequest,
            "the body must be an object of settings",
        )
    })?;
    settings::apply(&state.config, &state.settings, changes).map_err(|e| {
        let kind = match e {
            SettingsError::Write { .. } => ErrorKind::Internal,
            _ => ErrorKind::InvalidRequest,
        };
        ApiError::new(kind, e.to_string())
    })?;
    let ip = changes
        .get("server.host")
        .and_then(Value::as_str)
        .unwrap_or(&state.config.server.host)
        .parse()
        .unwrap_or(state.addr.ip());
    let port = changes
        .get("server.port")
        .and_then(Value::as_u64)
        .and_then(|p| u16::try_from(p).ok())
        .unwrap_or(state.addr.port());
    let url = owner::ui_origin(std::net::SocketAddr::new(ip, port));
    tracing::info!(keys = ?changes.keys().collect::<Vec<_>>(), "settings changed from the UI; restarting");
    // The host restarts the server with a graceful shutdown, which lets this response (in
    // flight on its connection) finish first.
    state.settings.restart.notify_one();
    Ok((
        StatusCode::OK,
        Json(json!({"saved": true, "restarting": true, "url": url})),
    )
        .into_response())
}

/// `POST /api/token`: a new random API token (not saved: `PUT /api/settings` saves it).
pub async fn new_token() -> Json<Value> {
    Json(json!({"token": crate::api_token::generate()}))
}
