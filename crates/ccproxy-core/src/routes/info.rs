//! Routes that answer from the server's own state: health, status, models.

use crate::error::{ApiError, ErrorShape};
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::Json;
use ccproxy_protocol::error::ErrorKind;
use serde_json::{json, Value};
use std::sync::Arc;

/// `GET /health`: always open, even when a token is configured.
pub async fn health() -> Json<Value> {
    Json(json!({"status": "ok", "version": env!("CARGO_PKG_VERSION")}))
}

/// `GET /api/status`: credential state, token expiry, upstream URL, version.
pub async fn status(State(state): State<Arc<AppState>>) -> Json<Value> {
    Json(json!({
        "mode": "api",
        "version": env!("CARGO_PKG_VERSION"),
        "upstream": state.config.claude.base_url(),
        "uptime_secs": state.started.elapsed().as_secs(),
        "auth_token_required": state.config.security.auth_token.is_some(),
        "credentials": state.credentials.status(),
        "billing": state.billing.state(crate::clock::unix_secs()),
        // The last "Claude Code version too old" answer upstream gave a client's request.
        "version_floor": state.version_floor.get(crate::version_floor::Side::Client),
    }))
}

/// `GET /api/v1/models`, `GET /api/models`: the configured models, in one shape both SDKs
/// read — OpenAI's (`object`, `id`, `created`, `owned_by`) and Anthropic's (`type`, `id`,
/// `display_name`, `created_at`, `has_more`, `first_id`, `last_id`).
pub async fn models(State(state): State<Arc<AppState>>) -> Json<Value> {
    let models = &state.config.claude.models;
    let data: Vec<Value> = models.iter().map(|id| model_entry(id)).collect();
    Json(json!({
        "object": "list",
        "data": data,
        "has_more": false,
        "first_id": models.first(),
        "last_id": models.last(),
    }))
}

/// One model in both SDKs' shapes.
fn model_entry(id: &str) -> Value {
    let (created, created_at) = release_date(id);
    json!({
        "id": id,
        "object": "model",
        "created": created,
        "owned_by": "anthropic",
        "type": "model",
        "display_name": display_name(id),
        "created_at": created_at,
    })
}

/// `GET /api/v1/models/{id}`: a configured model or alias, in both shapes; 404 otherwise (in
/// Anthropic's error shape when the client sent `anthropic-version`, else OpenAI's).
pub async fn model(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let known = state.config.claude.models.contains(&id)
        || state.config.openai.model_aliases.contains_key(&id);
    if known {
        return Json(model_entry(&id)).into_response();
    }
    let mut error = ApiError::new(
        ErrorKind::NotFound,
        format!("model `{id}` is not configured"),
    );
    if !headers.contains_key("anthropic-version") {
        error.shape = ErrorShape::OpenAi;
    }
    error.into_response()
}

/// The `YYYYMMDD` suffix of a model id as (epoch seconds, RFC 3339), else the epoch.
fn release_date(id: &str) -> (u64, String) {
    let digits = id
        .rsplit('-')
        .next()
        .filter(|d| d.len() == 8 && d.bytes().all(|b| b.is_ascii_digit()));
    let Some(d) = digits else {
        return (0, "1970-01-01T00:00:00Z".into());
    };
    let (y, m, day): (i64, i64, i64) = (
        d[..4].parse().unwrap_or(1970),
        d[4..6].parse().unwrap_or(1),
        d[6..].parse().unwrap_or(1),
    );
    // Days from civil (Howard Hinnant's algorithm).
    let y2 = if m <= 2 { y - 1 } else { y };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = u64::try_from(days * 86_400).unwrap_or(0);
    (
        secs,
        format!("{}-{}-{}T00:00:00Z", &d[..4], &d[4..6], &d[6..]),
    )
}

/// `claude-sonnet-4-20250514` → `Claude Sonnet 4`.
fn display_name(id: &str) -> String {
    id.split('-')
        .filter(|part| !(part.len() == 8 && part.bytes().all(|b| b.is_ascii_digit())))
        .map(|part| {
            let mut chars = part.chars();
            match chars.next() {
                Some(c) => c.to_uppercase().chain(chars).collect(),
                None => String::new(),
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
        .replace(" 4 5", " 4.5")
        .replace(" 4 1", " 4.1")
        .replace("3 5", "3.5")
        .replace("3 7", "3.7")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_names() {
        assert_eq!(
            release_date("claude-sonnet-4-20250514"),
            (1_747_180_800, "2025-05-14T00:00:00Z".into())
        );
        assert_eq!(release_date("custom").0, 0);
        assert_eq!(display_name("claude-sonnet-4-20250514"), "Claude Sonnet 4");
        assert_eq!(
            display_name("claude-3-5-sonnet-20241022"),
            "Claude 3.5 Sonnet"
        );
        assert_eq!(display_name("claude-opus-4-1-20250805"), "Claude Opus 4.1");
    }
}
