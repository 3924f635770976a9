//! One-click client setup over HTTP ([`crate::client_setup`]): `GET /api/client-setup` (where
//! each client stands and what applying would change), `POST /api/client-setup/{client}`
//! `{"mode": "api"|"sdk"}` (apply) and `DELETE /api/client-setup/{client}` (restore). They read
//! and write the user's files, so all three are the owner's only ([`crate::owner`]).

use crate::client_setup::{Client, Mode, Setup, SetupError};
use crate::error::ApiError;
use crate::extract::ApiJson;
use crate::owner;
use crate::state::AppState;
use axum::extract::{FromRequest, Path, Request, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use ccproxy_protocol::error::ErrorKind;
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::Arc;

fn error(e: SetupError) -> Response {
    let kind = match e {
        SetupError::NotApplied(_) => ErrorKind::NotFound,
        SetupError::Write { .. } => ErrorKind::Internal,
        // A route runs in a server, so it always has an address; kept for completeness.
        SetupError::NoServer => ErrorKind::Unavailable,
        SetupError::NoFile(_)
        | SetupError::NoRecord
        | SetupError::PointsAtItself
        | SetupError::Unreadable { .. } => ErrorKind::InvalidRequest,
    };
    ApiError::new(kind, e.to_string()).into_response()
}

/// The 404 for a client id CCProxy does not know.
fn unknown(id: &str) -> Response {
    let known: Vec<_> = Client::ALL.iter().map(|c| c.id()).collect();
    ApiError::new(
        ErrorKind::NotFound,
        format!("no client `{id}` to set up; known: {}", known.join(", ")),
    )
    .into_response()
}

/// Refuses a caller who is not the owner, without reading the body.
async fn refuse_stranger(state: &AppState, request: Request) -> Result<Request, Response> {
    match owner::check(&state.config, request.headers()) {
        Ok(()) => Ok(request),
        Err(refused) => {
            let (parts, body) = request.into_parts();
            let limit = state.max_body_bytes();
            Err(
                crate::body::answer_unread(limit, &parts.headers, body, refused.into_response())
                    .await,
            )
        }
    }
}

/// `GET /api/client-setup`: every client's file, whether CCProxy's setup is in it, and what
/// applying it (in the mode it was set up in, else API mode) would change; secrets masked.
pub async fn list(State(state): State<Arc<AppState>>, request: Request) -> Response {
    if let Err(refused) = refuse_stranger(&state, request).await {
        return refused;
    }
    let setup = Setup::of_server(&state);
    let clients: Vec<Value> = Client::ALL
        .into_iter()
        .map(|c| match setup.status(c) {
            Ok(p) => json!(p),
            Err(e) => json!({
                "client": c, "name": c.name(), "applied": setup.is_recorded(c),
                "error": e.to_string(),
            }),
        })
        .collect();
    Json(json!({"clients": clients})).into_response()
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct Apply {
    mode: Mode,
    /// Only say what would change.
    dry_run: bool,
}

/// `POST /api/client-setup/{client}` `{"mode": "api", "dry_run": false}`.
pub async fn apply(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    request: Request,
) -> Response {
    let request = match refuse_stranger(&state, request).await {
        Ok(r) => r,
        Err(refused) => return refused,
    };
    let Some(client) = Client::from_id(&id) else {
        return unknown(&id);
    };
    let has_body = request
        .headers()
        .get(axum::http::header::CONTENT_LENGTH)
        .is_some_and(|v| v != "0")
        || request
            .headers()
            .contains_key(axum::http::header::TRANSFER_ENCODING);
    let body = if has_body {
        match ApiJson::<Value>::from_request(request, &state).await {
            Ok(ApiJson(body)) => body,
            Err(e) => return e.into_response(),
        }
    } else {
        json!({})
    };
    let options: Apply = match serde_json::from_value(body) {
        Ok(o) => o,
        Err(e) => {
            return ApiError::new(
                ErrorKind::InvalidRequest,
                format!("the body must be {{\"mode\": \"api\" | \"sdk\", \"dry_run\": bool}}: {e}"),
            )
            .into_response()
        }
    };
    let setup = Setup::of_server(&state);
    let done = if options.dry_run {
        setup.preview(client, options.mode)
    } else {
        setup.apply(client, options.mode)
    };
    match done {
        Ok(preview) => Json(json!(preview)).into_response(),
        Err(e) => error(e),
    }
}

/// `DELETE /api/client-setup/{client}`: restore the file.
pub async fn restore(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    request: Request,
) -> Response {
    if let Err(refused) = refuse_stranger(&state, request).await {
        return refused;
    }
    let Some(client) = Client::from_id(&id) else {
        return unknown(&id);
    };
    match Setup::of_server(&state).restore(client) {
        Ok(restored) => Json(json!(restored)).into_response(),
        Err(e) => error(e),
    }
}
