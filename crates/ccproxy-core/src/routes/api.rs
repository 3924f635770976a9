//! API mode (`/api`): the Anthropic Messages API reverse-proxied with the user's OAuth token.
//!
//! Per request: read the body (bounded), insert the identity line if missing, get a fresh token,
//! send, and on a 401 refresh once and resend. Nothing else in the body is parsed or changed.

use crate::credentials::CredentialError;
use crate::error::ApiError;
use crate::server::AppState;
use crate::upstream;
use axum::extract::{Request, State};
use axum::http::{header, Method, StatusCode};
use axum::response::Response;
use bytes::Bytes;
use ccproxy_protocol::anthropic::identity::ensure_identity;
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

/// Reads the whole request body, refusing more than `limit` bytes with 413.
async fn read_body(body: axum::body::Body, limit: u64) -> Result<Bytes, ApiError> {
    let too_large = || {
        ApiError::new(
            ErrorKind::RequestTooLarge,
            format!("the request body exceeds the limit of {limit} bytes (server.max_body_bytes)"),
        )
    };
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => Err(too_large()),
        Err(e) => Err(ApiError::new(
            ErrorKind::InvalidRequest,
            format!("could not read the request body: {e}"),
        )),
    }
}

async fn forward(
    state: &AppState,
    request: Request,
    upstream_path: &str,
) -> Result<Response, ApiError> {
    let (parts, body) = request.into_parts();
    let limit = state.config.server.max_body_bytes;
    let declared = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > limit) {
        return Err(ApiError::new(
            ErrorKind::RequestTooLarge,
            format!("the request body exceeds the limit of {limit} bytes (server.max_body_bytes)"),
        ));
    }
    let body = read_body(body, limit).await?;
    let body = match ensure_identity(&body) {
        Ok(Some(rewritten)) => Bytes::from(rewritten),
        Ok(None) => body,
        Err(e) => return Err(ApiError::new(ErrorKind::InvalidRequest, e.to_string())),
    };

    let mut url = String::with_capacity(state.config.claude.base_url().len() + 64);
    url.push_str(state.config.claude.base_url());
    url.push_str(upstream_path);
    if let Some(query) = parts.uri.query() {
        url.push('?');
        url.push_str(query);
    }

    let token = state.credentials.token().await?;
    let sent = upstream::send(
        &state.http,
        Method::POST,
        &url,
        upstream::request_headers(&parts.headers, &token),
        body.clone(),
    )
    .await?;
    if sent.status() != StatusCode::UNAUTHORIZED {
        return Ok(upstream::response(sent));
    }

    // Upstream rejected the token: refresh once (shared with concurrent callers) and resend.
    let fresh = match state.credentials.token_after_rejection(&token).await {
        Ok(fresh) => fresh,
        Err(e @ CredentialError::LoginDead) => return Err(e.into()),
        Err(e) => {
            tracing::warn!("upstream rejected the token and no refresh was possible: {e}");
            return Ok(upstream::response(sent));
        }
    };
    drop(sent);
    let resent = upstream::send(
        &state.http,
        Method::POST,
        &url,
        upstream::request_headers(&parts.headers, &fresh),
        body,
    )
    .await?;
    Ok(upstream::response(resent))
}
