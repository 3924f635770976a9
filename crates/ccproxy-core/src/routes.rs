//! The router: every route of the server, and the fallbacks that answer in the API's shape.

mod api;
mod info;
mod logs;
mod oauth;
mod openai;
mod sdk;
mod ui;

use crate::error::ApiError;
use crate::server::AppState;
use axum::extract::Request;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::Router;
use ccproxy_protocol::error::ErrorKind;
use std::sync::Arc;

/// All routes, without middleware (see [`crate::server::app`]).
pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/health", get(info::health))
        .route("/", get(ui::index))
        .route("/ui/{*path}", get(ui::file))
        .route("/favicon.ico", get(ui::favicon))
        .route("/api/settings", get(ui::get_settings).put(ui::put_settings))
        .route("/api/token", post(ui::new_token))
        .route("/api/status", get(info::status))
        .route("/api/v1/models", get(info::models))
        .route("/api/models", get(info::models))
        .route("/api/v1/messages", post(api::messages))
        .route("/api/v1/messages/count_tokens", post(api::count_tokens))
        .route("/api/v1/chat/completions", post(openai::chat_completions))
        .route("/api/chat/completions", post(openai::chat_completions))
        .route("/api/v1/responses", post(openai::responses))
        .route("/api/responses", post(openai::responses))
        .route("/api/v1/models/{id}", get(info::model))
        .route("/api/models/{id}", get(info::model))
        .route("/sdk/status", get(sdk::status))
        .route("/sdk/v1/models", get(sdk::models))
        .route("/sdk/models", get(sdk::models))
        .route("/sdk/v1/messages", post(sdk::messages))
        .route(
            "/sdk/v1/chat/completions",
            post(openai::sdk_chat_completions),
        )
        .route("/sdk/chat/completions", post(openai::sdk_chat_completions))
        .route("/sdk/v1/responses", post(openai::sdk_responses))
        .route("/sdk/responses", post(openai::sdk_responses))
        .route("/sdk/{session}/v1/messages", post(sdk::session_messages))
        .route(
            "/sdk/{session}/v1/chat/completions",
            post(openai::session_chat_completions),
        )
        .route(
            "/sdk/{session}/chat/completions",
            post(openai::session_chat_completions),
        )
        .route(
            "/sdk/{session}/v1/responses",
            post(openai::session_responses),
        )
        .route("/sdk/{session}/responses", post(openai::session_responses))
        .route("/logs/status", get(logs::status))
        .route("/logs/query", get(logs::query))
        .route("/logs/summary", get(logs::summary))
        .route("/logs/stream", get(logs::stream))
        .route("/api/quota", get(logs::quota))
        .route("/metrics", get(logs::metrics))
        .route("/oauth/login", get(oauth::login))
        .route("/oauth/callback", get(oauth::callback))
        .route("/callback", get(oauth::callback))
        .route("/oauth/status", get(oauth::status))
        .route("/oauth/logout", post(oauth::logout))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
}

/// Only `GET /metrics`, for `observability.metrics_port`.
pub fn metrics_only() -> Router<Arc<AppState>> {
    Router::new()
        .route("/metrics", get(logs::metrics_here))
        .fallback(not_found)
}

async fn not_found(request: Request) -> impl IntoResponse {
    let path = request.uri().path();
    ApiError::new(
        ErrorKind::NotFound,
        format!("no route for {} {path}", request.method()),
    )
    .for_path(path)
}

async fn method_not_allowed(request: Request) -> impl IntoResponse {
    let path = request.uri().path();
    let mut error = ApiError::new(
        ErrorKind::InvalidRequest,
        format!("method {} is not allowed on {path}", request.method()),
    )
    .for_path(path)
    .into_response();
    *error.status_mut() = axum::http::StatusCode::METHOD_NOT_ALLOWED;
    error
}
