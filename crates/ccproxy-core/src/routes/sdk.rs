//! Claude Code mode's HTTP side: `POST /sdk/v1/messages` (and, through the OpenAI translation in
//! `routes/openai`, Chat Completions and Responses), `GET /sdk/v1/models`, `GET /sdk/status`,
//! and the same under `/sdk/{session}/…`.
//!
//! [`run`] turns an Anthropic request into one turn of a leased CLI process
//! ([`crate::sdk::Sdk::lease`]) and answers in Anthropic's shape: an SSE stream, re-emitted
//! event by event as the CLI prints them, or the whole message. The response status waits for
//! the turn's first output, so an error before any content (a 429 upstream, a missing login)
//! gets its own status instead of a 200 with an error inside.

use super::api::read_body;
use crate::error::ApiError;
use crate::quota::Quota;
use crate::record::{surface, BodyKind, DraftCell};
use crate::sdk::{Lease, LeaseError};
use crate::server::AppState;
use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use bytes::Bytes;
use ccproxy_protocol::claude_cli::{self, Accumulator, Events, Turn, TurnError};
use ccproxy_protocol::error::ErrorKind;
use ccproxy_protocol::sse::event_frame;
use serde_json::{json, Value};
use std::sync::Arc;

/// `POST /sdk/v1/messages`
pub async fn messages(State(state): State<Arc<AppState>>, request: Request) -> Response {
    anthropic(state, request, None).await
}

/// `POST /sdk/{session}/v1/messages`
pub async fn session_messages(
    State(state): State<Arc<AppState>>,
    Path(session): Path<String>,
    request: Request,
) -> Response {
    anthropic(state, request, Some(session)).await
}

async fn anthropic(state: Arc<AppState>, request: Request, session: Option<String>) -> Response {
    let (parts, body) = request.into_parts();
    let draft = parts.extensions.get::<DraftCell>().cloned();
    if let Some(d) = &draft {
        d.with(|d| {
            d.mode = Some("sdk");
            d.surface = Some(surface::ANTHROPIC);
        });
    }
    let result = async {
        let body = read_body(&state, &parts.headers, body).await?;
        if let (Some(d), true) = (&draft, state.config.observability.store_bodies) {
            d.with(|d| d.request_body = Some(body.clone()));
        }
        let req: Value = serde_json::from_slice(&body).map_err(|e| {
            ApiError::new(
                ErrorKind::InvalidRequest,
                format!("the request body is not valid JSON: {e}"),
            )
        })?;
        run(&state, draft.as_ref(), &req, session.as_deref()).await
    }
    .await;
    result.unwrap_or_else(IntoResponse::into_response)
}

/// A session id from the path: 1–64 of `A-Z a-z 0-9 _ -`.
pub fn check_session(id: &str) -> Result<(), ApiError> {
    let ok = (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(ApiError::new(
            ErrorKind::InvalidRequest,
            "a session id is 1 to 64 letters, digits, `_` or `-`",
        ))
    }
}

fn new_message_id() -> String {
    format!("msg_sdk_{:024x}", rand::random::<u128>() >> 32)
}

/// One turn of the CLI for an Anthropic Messages request.
pub async fn run(
    state: &Arc<AppState>,
    draft: Option<&DraftCell>,
    req: &Value,
    session: Option<&str>,
) -> Result<Response, ApiError> {
    if let Some(id) = session {
        check_session(id)?;
    }
    let parsed = claude_cli::parse_request(req)
        .map_err(|e| ApiError::new(ErrorKind::InvalidRequest, e.0))?;
    if let Some(d) = draft {
        d.with(|d| {
            d.mode = Some("sdk");
            d.model_requested = parsed.model.clone();
            d.stream = parsed.stream;
        });
    }
    let keys = claude_cli::history_keys(&parsed.messages);
    let mut lease = state
        .sdk
        .lease(&parsed.system, parsed.model.as_deref(), &keys, session)
        .await
        .map_err(|e| match e {
            LeaseError::Unavailable(m) => ApiError::new(ErrorKind::Unavailable, m),
            LeaseError::Busy(m) => ApiError::new(ErrorKind::RateLimit, m),
            LeaseError::Timeout(m) => ApiError::new(ErrorKind::Unavailable, m),
            LeaseError::Spawn(m) => ApiError::new(ErrorKind::BadGateway, m),
        })?;
    let prepared = async {
        if let Some(model) = &parsed.model {
            lease.process.set_model(model).await.map_err(|e| {
                ApiError::new(
                    ErrorKind::BadGateway,
                    format!("the claude CLI did not switch to model `{model}`: {e}"),
                )
            })?;
        }
        let content = claude_cli::user_content(&parsed.messages, lease.skip);
        lease
            .process
            .send_user(&content)
            .await
            .map_err(|e| ApiError::new(ErrorKind::BadGateway, e))
    }
    .await;
    if let Err(e) = prepared {
        lease.finish(None);
        return Err(e);
    }

    let model = parsed.model.clone().unwrap_or_else(|| "claude-code".into());
    let mut turn = Turn::new(&model, &new_message_id());
    let first = next_events(&mut lease, &mut turn).await;

    if let (false, Some(error)) = (turn.has_started(), turn.error().cloned()) {
        lease.finish(None);
        return Ok(error_response(&error, draft));
    }
    let mut headers = axum::http::HeaderMap::new();
    if !parsed.ignored.is_empty() {
        if let Ok(v) = HeaderValue::try_from(parsed.ignored.join(", ")) {
            headers.insert(super::openai::IGNORED_HEADER, v);
        }
    }
    if let Some(d) = draft {
        d.with(|d| {
            d.upstream_status = Some(200);
            d.upstream_kind = Some(if parsed.stream {
                BodyKind::Sse
            } else {
                BodyKind::Json
            });
        });
    }
    let pump = Pump {
        state: state.clone(),
        lease: Some(lease),
        turn,
        keys,
        draft: draft.cloned(),
    };
    if parsed.stream {
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/event-stream; charset=utf-8"),
        );
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        let mut response = Response::new(Body::from_stream(pump.stream(first)));
        *response.headers_mut() = headers;
        return Ok(response);
    }
    let (message, error) = pump.collect(first).await;
    if let Some(error) = error {
        return Ok(error_response(&error, draft));
    }
    let bytes = Bytes::from(message.to_string());
    if let Some(d) = draft {
        d.with(|d| d.keep(&bytes));
    }
    let mut response = (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        bytes,
    )
        .into_response();
    response.headers_mut().extend(headers);
    Ok(response)
}

fn error_response(error: &TurnError, draft: Option<&DraftCell>) -> Response {
    let status = StatusCode::from_u16(error.status).unwrap_or(StatusCode::BAD_GATEWAY);
    if let Some(d) = draft {
        d.with(|d| {
            d.upstream_status = Some(error.status);
            d.error_type = Some(error.kind.clone());
        });
    }
    (status, Json(error.body())).into_response()
}

/// Reads lines until the turn produces events or ends.
async fn next_events(lease: &mut Lease, turn: &mut Turn) -> Events {
    loop {
        match lease.process.next_line().await {
            Ok(line) => {
                let events = turn.push(&line);
                if !events.is_empty() || turn.is_done() {
                    return events;
                }
            }
            Err(why) => return turn.abandon(&why),
        }
    }
}

/// A turn in progress, owning its lease: dropped before the end (the client left), it
/// interrupts the turn.
struct Pump {
    state: Arc<AppState>,
    lease: Option<Lease>,
    turn: Turn,
    keys: Vec<u64>,
    draft: Option<DraftCell>,
}

impl Pump {
    fn end(&mut self) {
        if let Some(lease) = self.lease.take() {
            let history = self.turn.error().is_none().then(|| {
                let mut keys = std::mem::take(&mut self.keys);
                keys.push(claude_cli::assistant_key(self.turn.text()));
                keys
            });
            lease.finish(history);
        }
        // The subscription's quota as the CLI saw it (its `rate_limit_event`): the same
        // reading `/api/quota` takes from upstream's headers in API mode.
        let quota = self
            .turn
            .rate_limit()
            .and_then(|info| Quota::from_cli(info, crate::clock::unix_ms() as i64));
        if let Some(q) = &quota {
            self.state.quota.update(q.clone());
        }
        if let Some(d) = &self.draft {
            d.with(|d| {
                d.cli_cost_usd = self.turn.cost_usd();
                if let Some(e) = self.turn.error() {
                    d.error_type = Some(e.kind.clone());
                }
                if quota.is_some() {
                    d.quota = quota;
                }
            });
        }
    }

    async fn next(&mut self) -> Events {
        match self.lease.as_mut() {
            Some(lease) if !self.turn.is_done() => next_events(lease, &mut self.turn).await,
            _ => Vec::new(),
        }
    }

    /// The whole message (or the error, when the turn failed).
    async fn collect(mut self, first: Events) -> (Value, Option<TurnError>) {
        let mut acc = Accumulator::default();
        let mut events = first;
        loop {
            for (name, data) in &events {
                acc.push(name, data);
            }
            if self.turn.is_done() {
                break;
            }
            events = self.next().await;
        }
        self.end();
        (acc.message(), self.turn.error().cloned())
    }

    /// The SSE body: the first events, then each step's as the CLI prints them.
    fn stream(
        self,
        first: Events,
    ) -> impl futures_util::Stream<Item = Result<Bytes, std::io::Error>> {
        futures_util::stream::unfold((self, Some(first)), |(mut pump, mut first)| async move {
            let events = match first.take() {
                Some(events) => events,
                None if pump.lease.is_none() => return None,
                None => pump.next().await,
            };
            let mut out = Vec::new();
            for (name, data) in &events {
                out.extend(event_frame(name, &data.to_string()));
            }
            if pump.turn.is_done() {
                pump.end();
            }
            let bytes = Bytes::from(out);
            if let Some(d) = &pump.draft {
                d.with(|d| d.keep(&bytes));
            }
            Some((Ok(bytes), (pump, first)))
        })
    }
}

impl Drop for Pump {
    fn drop(&mut self) {
        if let Some(lease) = self.lease.take() {
            lease.cancel();
        }
    }
}

/// `GET /sdk/v1/models`, `GET /sdk/models`: the CLI's models (from its `initialize` answer),
/// else the configured list, in the shape both SDKs read.
pub async fn models(State(state): State<Arc<AppState>>) -> Response {
    let from_cli = state.sdk.cli_models();
    let ids: Vec<(String, String)> = match &from_cli {
        Some(Value::Array(models)) => models
            .iter()
            .filter_map(|m| {
                let id = m["value"].as_str()?;
                Some((
                    id.to_string(),
                    m["displayName"].as_str().unwrap_or(id).to_string(),
                ))
            })
            .collect(),
        _ => state
            .config
            .claude
            .models
            .iter()
            .map(|m| (m.clone(), m.clone()))
            .collect(),
    };
    let data: Vec<Value> = ids
        .iter()
        .map(|(id, name)| {
            json!({
                "id": id, "object": "model", "created": 0, "owned_by": "anthropic",
                "type": "model", "display_name": name, "created_at": "1970-01-01T00:00:00Z",
            })
        })
        .collect();
    Json(json!({
        "object": "list",
        "data": data,
        "has_more": false,
        "first_id": ids.first().map(|m| &m.0),
        "last_id": ids.last().map(|m| &m.0),
        "source": if from_cli.is_some() { "claude-cli" } else { "config" },
    }))
    .into_response()
}

/// `GET /sdk/status`: the CLI (found, path, version), the pool, the CLI's login.
pub async fn status(State(state): State<Arc<AppState>>) -> Json<Value> {
    let cli = state.sdk.cli_status().await;
    let c = &state.config.claude;
    Json(json!({
        "mode": "sdk",
        "cli": cli,
        "pool": state.sdk.pool_status(),
        "account": state.sdk.cli_account(),
        "permission_mode": c.permission_mode.as_str(),
        "allowed_tools": c.allowed_tools,
        "disallowed_tools": c.disallowed_tools,
        "max_turns": c.max_turns,
        "cwd": c.workspace(),
    }))
}
