//! API mode (`/api`): the Anthropic Messages API reverse-proxied with the user's OAuth token.
//!
//! Per request: read the body (bounded), insert the identity line if missing, get a fresh token,
//! send, and on a 401 refresh once and resend. Nothing else in the body is parsed or changed.
//! [`read_body`] and [`call_upstream`] are shared with the OpenAI surface (`routes/openai`).

use crate::credentials::CredentialError;
use crate::error::ApiError;
use crate::quota::Quota;
use crate::record::{surface, DraftCell};
use crate::server::AppState;
use crate::upstream;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::response::Response;
use bytes::Bytes;
use ccproxy_protocol::anthropic::identity::prepare;
use ccproxy_protocol::error::ErrorKind;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use std::sync::Arc;

/// `POST /api/v1/messages`
pub async fn messages(state: State<Arc<AppState>>, request: Request) -> Result<Response, ApiError> {
    forward(&state, request, "/v1/messages").await
}

/// `POST /api/v1/messages/count_tokens`
pub async fn count_tokens(
    state: State<Arc<AppState>>,
    request: Request,
) -> Result<Response, ApiError> {
    forward(&state, request, "/v1/messages/count_tokens").await
}

/// Reads the whole request body, refusing more than `server.max_body_bytes` with 413.
pub async fn read_body(
    state: &AppState,
    headers: &HeaderMap,
    body: axum::body::Body,
) -> Result<Bytes, ApiError> {
    let limit = state.config.server.max_body_bytes;
    let too_large = || {
        ApiError::new(
            ErrorKind::RequestTooLarge,
            format!("the request body exceeds the limit of {limit} bytes (server.max_body_bytes)"),
        )
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > limit) {
        return Err(too_large());
    }
    let cap = usize::try_from(limit).unwrap_or(usize::MAX);
    match Limited::new(body, cap).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => Err(too_large()),
        Err(e) => Err(ApiError::new(
            ErrorKind::InvalidRequest,
            format!("could not read the request body: {e}"),
        )),
    }
}

/// Sends an Anthropic request upstream with the OAuth token (identity line ensured), refreshing
/// and resending once on a 401. Returns upstream's response as is. The request's draft learns the
/// model and stream flag (unless the caller set them), and upstream's status, id and quota.
pub async fn call_upstream(
    state: &AppState,
    draft: Option<&DraftCell>,
    headers: &HeaderMap,
    path_and_query: &str,
    body: Bytes,
) -> Result<reqwest::Response, ApiError> {
    let prepared =
        prepare(&body).map_err(|e| ApiError::new(ErrorKind::InvalidRequest, e.to_string()))?;
    if let Some(d) = draft {
        d.with(|d| {
            d.mode.get_or_insert("api");
            d.surface.get_or_insert(surface::ANTHROPIC);
            if d.model_requested.is_none() {
                d.model_requested = prepared.model.clone();
                d.stream = prepared.stream;
            }
        });
    }
    let body = match prepared.body {
        Some(rewritten) => Bytes::from(rewritten),
        None => body,
    };
    let sent = send_with_refresh(state, headers, path_and_query, body).await?;
    let quota = Quota::from_headers(sent.headers(), crate::clock::unix_ms() as i64);
    if let Some(q) = &quota {
        state.quota.update(q.clone());
    }
    if let Some(d) = draft {
        let request_id = sent
            .headers()
            .get("request-id")
            .and_then(|v| v.to_str().ok())
            .map(String::from);
        let status = sent.status().as_u16();
        d.with(|d| {
            d.upstream_status = Some(status);
            d.upstream_request_id = request_id;
            d.quota = quota;
        });
    }
    Ok(sent)
}

async fn send_with_refresh(
    state: &AppState,
    headers: &HeaderMap,
    path_and_query: &str,
    body: Bytes,
) -> Result<reqwest::Response, ApiError> {
    let base = state.config.claude.base_url();
    let mut url = String::with_capacity(base.len() + path_and_query.len());
    url.push_str(base);
    url.push_str(path_and_query);

    let token = state.credentials.token().await?;
    let sent = upstream::send(
        &state.http,
        Method::POST,
        &url,
        upstream::request_headers(headers, &token),
        body.clone(),
    )
    .await?;
    if sent.status() != StatusCode::UNAUTHORIZED {
        return Ok(sent);
    }

    // Upstream rejected the token: refresh once (shared with concurrent callers) and resend.
    let fresh = match state.credentials.token_after_rejection(&token).await {
        Ok(fresh) => fresh,
        Err(e @ CredentialError::LoginDead) => return Err(e.into()),
        Err(e) => {
            tracing::warn!("upstream rejected the token and no refresh was possible: {e}");
            return Ok(sent);
        }
    };
    drop(sent);
    upstream::send(
        &state.http,
        Method::POST,
        &url,
        upstream::request_headers(headers, &fresh),
        body,
    )
    .await
}

async fn forward(
    state: &AppState,
    request: Request,
    upstream_path: &str,
) -> Result<Response, ApiError> {
    let (parts, body) = request.into_parts();
    let draft = parts.extensions.get::<DraftCell>().cloned();
    if let Some(d) = &draft {
        d.with(|d| {
            d.mode = Some("api");
            d.surface = Some(surface::ANTHROPIC);
        });
    }
    let body = read_body(state, &parts.headers, body).await?;
    if let (Some(d), true) = (&draft, state.config.observability.store_bodies) {
        d.with(|d| d.request_body = Some(body.clone()));
    }
    let target = match parts.uri.query() {
        Some(query) => format!("{upstream_path}?{query}"),
        None => upstream_path.to_string(),
    };
    let sent = call_upstream(state, draft.as_ref(), &parts.headers, &target, body).await?;
    Ok(upstream::response(sent, draft))
}
