//! The router, built from sub-routers by what they serve — public (health, the web UI's files,
//! the OAuth callback), the model routes of both modes, and the rest (status, models, settings,
//! OAuth, logs and metrics, and every other `/api/` path, forwarded upstream) — each with the admission its callers need ([`guard::Gate`]). Model
//! routes are data: a path, the [`Surface`] it speaks and the [`Backend`] that answers, run by
//! [`exchange::run`].

mod billing;
mod claude_code;
mod client_setup;
mod forward;
mod info;
mod logs;
mod oauth;
mod responses;
mod ui;

use crate::error::{ApiError, ErrorShape};
use crate::exchange::{self, Backend, Surface};
use crate::guard::{self, Gate};
use crate::state::AppState;
use axum::extract::{Path, Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post, MethodRouter};
use axum::Router;
use ccproxy_protocol::error::ErrorKind;
use std::sync::Arc;

/// Who answers a model route: a fixed backend, or Claude Code in the path's session.
#[derive(Clone, Copy)]
enum Answerer {
    Upstream(&'static str),
    ClaudeCode,
    Session,
}

/// The model routes: path, surface, who answers. OpenAI SDKs append their paths to a base URL
/// with or without `/v1`, so both spellings are served.
const MODEL_ROUTES: [(&str, Surface, Answerer); 16] = {
    use Answerer::*;
    use Surface::*;
    [
        ("/api/v1/messages", Messages, Upstream("/v1/messages")),
        (
            "/api/v1/messages/count_tokens",
            Messages,
            Upstream("/v1/messages/count_tokens"),
        ),
        ("/api/v1/chat/completions", Chat, Upstream("/v1/messages")),
        ("/api/chat/completions", Chat, Upstream("/v1/messages")),
        ("/api/v1/responses", Responses, Upstream("/v1/messages")),
        ("/api/responses", Responses, Upstream("/v1/messages")),
        ("/sdk/v1/messages", Messages, ClaudeCode),
        ("/sdk/v1/chat/completions", Chat, ClaudeCode),
        ("/sdk/chat/completions", Chat, ClaudeCode),
        ("/sdk/v1/responses", Responses, ClaudeCode),
        ("/sdk/responses", Responses, ClaudeCode),
        ("/sdk/{session}/v1/messages", Messages, Session),
        ("/sdk/{session}/v1/chat/completions", Chat, Session),
        ("/sdk/{session}/chat/completions", Chat, Session),
        ("/sdk/{session}/v1/responses", Responses, Session),
        ("/sdk/{session}/responses", Responses, Session),
    ]
};

fn model_route(surface: Surface, answerer: Answerer) -> MethodRouter<Arc<AppState>> {
    match answerer {
        Answerer::Upstream(path) => post(
            move |State(state): State<Arc<AppState>>, request| async move {
                exchange::run(&state, surface, Backend::Upstream { path }, request).await
            },
        ),
        Answerer::ClaudeCode => post(
            move |State(state): State<Arc<AppState>>, request| async move {
                exchange::run(
                    &state,
                    surface,
                    Backend::ClaudeCode { session: None },
                    request,
                )
                .await
            },
        ),
        Answerer::Session => post(
            move |State(state): State<Arc<AppState>>, Path(session): Path<String>, request| async move {
                let backend = Backend::ClaudeCode {
                    session: Some(session),
                };
                exchange::run(&state, surface, backend, request).await
            },
        ),
    }
}

/// All routes, each behind its admission (see [`crate::server::app`] for the outer layers).
pub fn routes(state: &Arc<AppState>) -> Router<Arc<AppState>> {
    let gate =
        |gate: Gate| axum::middleware::from_fn_with_state((state.clone(), gate), guard::admit);

    // What a browser loads before it has a token, and the login callback (protected by its
    // `state` instead: the browser cannot send a token): the Host check only.
    let public = Router::new()
        .route("/health", get(info::health))
        .route("/", get(ui::index))
        .route("/ui/{*path}", get(ui::file))
        .route("/favicon.ico", get(ui::favicon))
        .route("/oauth/callback", get(oauth::callback))
        .route("/callback", get(oauth::callback));
    // Every page of the UI at a path of its own (`/dashboard`), to bookmark or open from a tool.
    let public = ui::PAGES
        .iter()
        .fold(public, |router, page| router.route(page, get(ui::index)))
        .route_layer(gate(Gate::PUBLIC));

    let mut models = Router::new();
    for (path, surface, answerer) in MODEL_ROUTES {
        let route = model_route(surface, answerer).layer(gate(Gate::token(surface.error_shape())));
        models = models.route(path, route);
    }

    // The kept Responses answers; another method on these paths (`POST …/compact`, …) is a 404.
    let mut kept = Router::new();
    for prefix in ["/api/v1", "/api", "/sdk/v1", "/sdk"] {
        kept = kept
            .route(
                &format!("{prefix}/responses/{{id}}"),
                get(responses::get)
                    .delete(responses::delete)
                    .post(not_found),
            )
            .route(
                &format!("{prefix}/responses/{{id}}/input_items"),
                get(responses::input_items),
            );
    }
    let kept = kept.route_layer(gate(Gate::token(ErrorShape::OpenAi)));

    let rest = Router::new()
        .route("/api/settings", get(ui::get_settings).put(ui::put_settings))
        .route("/api/token", post(ui::new_token))
        .route("/api/client-setup", get(client_setup::list))
        .route(
            "/api/client-setup/{client}",
            post(client_setup::apply).delete(client_setup::restore),
        )
        .route("/api/status", get(info::status))
        .route("/api/v1/models", get(info::models))
        .route("/api/models", get(info::models))
        .route("/api/v1/models/{id}", get(info::model))
        .route("/api/models/{id}", get(info::model))
        .route("/sdk/status", get(claude_code::status))
        .route("/sdk/v1/models", get(claude_code::models))
        .route("/sdk/models", get(claude_code::models))
        .route("/logs/status", get(logs::status))
        .route("/logs/query", get(logs::query))
        .route("/logs/summary", get(logs::summary))
        .route("/logs/stream", get(logs::stream))
        .route("/api/quota", get(logs::quota))
        .route("/api/alerts", get(billing::alerts))
        .route(
            "/api/billing/allow-extra-usage",
            post(billing::allow_extra_usage),
        )
        .route("/metrics", get(logs::metrics))
        .route("/oauth/login", get(oauth::login))
        .route("/oauth/status", get(oauth::status))
        .route("/oauth/logout", post(oauth::logout))
        // Everything else under /api/ is upstream's.
        .route("/api/{*path}", any(forward::forward))
        .route_layer(gate(Gate::token(ErrorShape::Anthropic)));

    public
        .merge(models)
        .merge(kept)
        .merge(rest)
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
}

/// Only `GET /metrics`, for `observability.metrics_port`.
pub fn metrics_only(state: &Arc<AppState>) -> Router<Arc<AppState>> {
    Router::new()
        .route("/metrics", get(logs::metrics_here))
        .route_layer(axum::middleware::from_fn_with_state(
            (state.clone(), Gate::token(ErrorShape::Anthropic)),
            guard::admit,
        ))
        .fallback(not_found)
}

/// A path no route knows: admitted like any other (Host, token), then 404.
async fn not_found(State(state): State<Arc<AppState>>, request: Request) -> Response {
    let path = request.uri().path();
    let shape = ErrorShape::of_unmatched_path(path);
    let response = match guard::check(&state, Gate::token(shape), &request) {
        Err(refused) => refused.into_response(),
        Ok(()) => ApiError::new(
            ErrorKind::NotFound,
            format!("no route for {} {path}", request.method()),
        )
        .in_shape(shape)
        .into_response(),
    };
    let (parts, body) = request.into_parts();
    crate::body::answer_unread(state.max_body_bytes(), &parts.headers, body, response).await
}

/// A known path with another method (admission ran in the route's own layer).
async fn method_not_allowed(State(state): State<Arc<AppState>>, request: Request) -> Response {
    let path = request.uri().path();
    let mut error = ApiError::new(
        ErrorKind::InvalidRequest,
        format!("method {} is not allowed on {path}", request.method()),
    )
    .in_shape(ErrorShape::of_unmatched_path(path))
    .into_response();
    *error.status_mut() = axum::http::StatusCode::METHOD_NOT_ALLOWED;
    let (parts, body) = request.into_parts();
    crate::body::answer_unread(state.max_body_bytes(), &parts.headers, body, error).await
}
