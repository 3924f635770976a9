//! API mode's transparent part: every method and path under `/api/` that CCProxy does not answer
//! itself (Claude Code's own side calls such as `HEAD /api/api/hello`, `/v1/files`, message
//! batches, `/v1/messages/count_tokens`' siblings, …) goes to upstream with the same treatment as
//! `/v1/messages` — the OAuth token injected, the client's credentials removed, betas merged —
//! and the body untouched; upstream's answer comes back as it is, streamed. This is what an LLM
//! gateway in front of Claude Code must do: forward what it does not consume.

use crate::error::ErrorShape;
use crate::record::DraftCell;
use crate::state::AppState;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use std::sync::Arc;

/// `ANY /api/{*path}` → upstream `/{path}` (query kept). OpenAI paths CCProxy does not serve
/// (`/api/v1/responses/compact`, …) are not Anthropic's: they are a 404 in OpenAI's shape.
pub async fn forward(State(state): State<Arc<AppState>>, request: Request) -> Response {
    if ErrorShape::of_unmatched_path(request.uri().path()) == ErrorShape::OpenAi {
        return super::not_found(State(state), request).await;
    }
    let (parts, body) = request.into_parts();
    let draft = parts.extensions.get::<DraftCell>().cloned();
    if let Some(d) = &draft {
        d.with(|d| d.mode = Some("api"));
    }
    let path = parts.uri.path().strip_prefix("/api").unwrap_or("/");
    let target = match parts.uri.query() {
        Some(query) => format!("{path}?{query}"),
        None => path.to_string(),
    };
    let answered = async {
        let body = crate::body::read(state.max_body_bytes(), &parts.headers, body).await?;
        let sent = crate::upstream::call(
            &state,
            draft.as_ref(),
            parts.method.clone(),
            &parts.headers,
            &target,
            body,
        )
        .await?;
        Ok::<_, crate::error::ApiError>(crate::upstream::response(sent, draft))
    };
    answered.await.unwrap_or_else(IntoResponse::into_response)
}
