//! The exchange: every model request, whatever API the client speaks ([`Surface`]) and whoever
//! answers it ([`Backend`]), runs through [`run`]:
//!
//! ```text
//! read the bounded body → the surface parses it → the draft is begun (mode, surface, model,
//! stream) → the backend answers → the surface renders the answer (JSON, stream, or error)
//! ```
//!
//! Two invariants shape it:
//! - **Anthropic × Upstream is byte pass-through.** The body is not parsed: only the identity
//!   line is spliced in, and upstream's response (status, headers, body) streams back as is.
//! - **Nothing is encoded to be decoded again.** Upstream's SSE bytes are decoded once; a CLI
//!   turn's events go to the renderer as parsed values (`exchange::render`).
//!
//! Adding a surface means a [`Surface`] variant (its name, error shape, parser, token markers:
//! `exchange/surface.rs`), its renderer arm (`exchange/render.rs`), its translation in
//! `ccproxy-protocol`, and its routes (`routes.rs`). Adding a backend means a [`Backend`]
//! variant, its call (like `exchange/turn.rs`), and its arm in [`run`].

mod render;
mod surface;
pub mod turn;

pub use surface::{Parsed, Refusal, Surface, TokenMarker};

use crate::error::ApiError;
use crate::record::{BodyKind, DraftCell};
use crate::response_store::{Owner, Save};
use crate::state::AppState;
use crate::upstream;
use crate::version_floor::{Side, VersionFloor};
use axum::extract::Request;
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Method};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use ccproxy_protocol::error::ErrorKind;
use render::{Keep, Renderer, Source};
use serde_json::Value;
use std::borrow::Cow;
use std::sync::Arc;

/// Lists the request fields that were ignored.
pub const IGNORED_HEADER: &str = "x-ccproxy-ignored-params";

/// Who answers a request.
#[derive(Debug, Clone)]
pub enum Backend {
    /// The Anthropic API with the user's OAuth token (API mode), at this path.
    Upstream { path: &'static str },
    /// A turn of the `claude` CLI (Claude Code mode), in a session when given.
    ClaudeCode { session: Option<String> },
}

impl Backend {
    /// The mode's name in records and metrics.
    pub const fn mode(&self) -> &'static str {
        match self {
            Self::Upstream { .. } => "api",
            Self::ClaudeCode { .. } => "sdk",
        }
    }
}

/// Runs one model request end to end; errors come in the surface's shape.
pub async fn run(
    state: &Arc<AppState>,
    surface: Surface,
    backend: Backend,
    request: Request,
) -> Response {
    let (parts, body) = request.into_parts();
    let draft = parts.extensions.get::<DraftCell>().cloned();
    if let Some(d) = &draft {
        d.with(|d| {
            d.mode = Some(backend.mode());
            d.surface = Some(surface);
        });
    }
    let answered = async {
        json_body(&parts.headers)?;
        if let Backend::ClaudeCode { session: Some(id) } = &backend {
            turn::check_session(id)?;
        }
        let body = crate::body::read(state.max_body_bytes(), &parts.headers, body).await?;
        // The extra-usage guard answers before anything is sent upstream.
        state
            .billing
            .check(crate::clock::unix_secs())
            .map_err(|refused| {
                ApiError::new(ErrorKind::RateLimit, refused.message)
                    .retry_after(refused.retry_after_secs)
                    .tagged("extra_usage_blocked")
            })?;
        if let (Some(d), true) = (&draft, state.stores_bodies()) {
            d.with(|d| d.request_body = Some(body.clone()));
        }
        match (surface, &backend) {
            (Surface::Messages, Backend::Upstream { path }) => {
                pass_through(state, draft, &parts.uri, &parts.headers, path, body).await
            }
            (_, Backend::Upstream { .. }) => {
                translated(state, surface, draft, &parts.headers, &body).await
            }
            (_, Backend::ClaudeCode { session }) => {
                claude_code(
                    state,
                    surface,
                    draft,
                    &parts.headers,
                    &body,
                    session.as_deref(),
                )
                .await
            }
        }
    }
    .await;
    answered.unwrap_or_else(|e| e.in_shape(surface.error_shape()).into_response())
}

/// A model request's body is JSON: the types a browser may send cross-site without asking
/// (`text/plain`, forms) are refused with 415, so no web page can make a "simple" request that
/// runs a turn. A missing `Content-Type` is accepted (many non-browser clients omit it).
fn json_body(headers: &HeaderMap) -> Result<(), ApiError> {
    for value in headers.get_all(header::CONTENT_TYPE) {
        let essence = value
            .to_str()
            .unwrap_or("")
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        if essence != "application/json" && !essence.ends_with("+json") {
            return Err(ApiError::new(
                ErrorKind::UnsupportedMediaType,
                format!(
                    "the request body must be JSON: send `Content-Type: application/json` \
                     (got `{essence}`)"
                ),
            ));
        }
    }
    Ok(())
}

/// The client's body with the identity line ensured, and the model and stream flag read on the
/// way (the one top-level pass over the body that API mode makes).
fn with_identity(body: Bytes) -> Result<(Bytes, Option<String>, bool), ApiError> {
    let prepared = ccproxy_protocol::anthropic::identity::prepare(&body)
        .map_err(|e| ApiError::new(ErrorKind::InvalidRequest, e.to_string()))?;
    let body = match prepared.body {
        Some(rewritten) => Bytes::from(rewritten),
        None => body,
    };
    Ok((body, prepared.model, prepared.stream))
}

/// Anthropic × Upstream: the client's bytes (identity spliced in) and upstream's answer as is. A
/// compressed body (`Content-Encoding`) is decoded to look for the identity line: with it, the
/// client's encoded bytes go as they came; without it, the body goes plain with the line added.
async fn pass_through(
    state: &AppState,
    draft: Option<DraftCell>,
    uri: &axum::http::Uri,
    headers: &HeaderMap,
    path: &str,
    body: Bytes,
) -> Result<Response, ApiError> {
    let (body, headers, model, stream) = match crate::body::encoding::of(headers) {
        None => {
            let (body, model, stream) = with_identity(body)?;
            (body, Cow::Borrowed(headers), model, stream)
        }
        // Compressed: decoded to look for the identity line. When it is there the client's
        // bytes go as they came; when it must be added, the body goes plain.
        Some(coding) => {
            let plain = crate::body::encoding::decode(coding, &body, state.max_body_bytes())?;
            let prepared = ccproxy_protocol::anthropic::identity::prepare(&plain)
                .map_err(|e| ApiError::new(ErrorKind::InvalidRequest, e.to_string()))?;
            match prepared.body {
                None => (
                    body,
                    Cow::Borrowed(headers),
                    prepared.model,
                    prepared.stream,
                ),
                Some(rewritten) => {
                    let mut plain_headers = headers.clone();
                    plain_headers.remove(header::CONTENT_ENCODING);
                    let body = Bytes::from(rewritten);
                    (
                        body,
                        Cow::Owned(plain_headers),
                        prepared.model,
                        prepared.stream,
                    )
                }
            }
        }
    };
    if let Some(d) = &draft {
        d.with(|d| {
            d.model_requested = model;
            d.stream = stream;
        });
    }
    let target = match uri.query() {
        Some(query) => format!("{path}?{query}"),
        None => path.to_string(),
    };
    let sent = upstream::call(state, draft.as_ref(), Method::POST, &headers, &target, body).await?;
    Ok(upstream::response_explained(state, sent, draft).await)
}

/// A Responses request with its ids resolved from the kept responses (`previous_response_id`,
/// `item_reference`; unknown or expired ones are a 404 naming them), and, unless it says
/// `store: false`, where its answer is to be kept.
fn responses_with_ids(
    state: &AppState,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Parsed, Refusal> {
    let mut req = surface::json(body)?;
    let store = &state.responses;
    let owner = Owner::of(headers);
    let input = store.expand(owner, &mut req).map_err(Refusal::Api)?;
    let mut parsed = Surface::Responses.parse_value(req, &state.translation_options())?;
    let keep = store.enabled() && parsed.echo.as_ref().is_some_and(|e| e.stored());
    if keep {
        parsed.save = Some(Save {
            store: store.clone(),
            owner,
            input: Arc::new(input),
        });
    }
    Ok(parsed)
}

/// Parses the request in its surface and begins the draft's request fields.
fn parse(
    state: &AppState,
    surface: Surface,
    draft: Option<&DraftCell>,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Result<Parsed, Response>, ApiError> {
    let parsed = if surface == Surface::Responses {
        responses_with_ids(state, headers, body)
    } else {
        surface.parse(body, &state.translation_options())
    };
    match parsed {
        Ok(parsed) => {
            if let Some(d) = draft {
                d.with(|d| {
                    d.model_requested = parsed.model.clone();
                    d.stream = parsed.stream;
                });
            }
            Ok(Ok(parsed))
        }
        Err(Refusal::Api(e)) => Err(e),
        Err(Refusal::Field(body)) => {
            Ok(Err(
                (axum::http::StatusCode::BAD_REQUEST, axum::Json(body)).into_response()
            ))
        }
    }
}

/// Upstream headers worth passing back to OpenAI clients.
fn kept_header(name: &HeaderName) -> bool {
    let n = name.as_str();
    n == "request-id"
        || n == crate::billing::HEADER
        || n == "retry-after"
        || n == "x-should-retry"
        || n.starts_with("anthropic-ratelimit-")
}

/// The `x-ccproxy-ignored-params` header, when anything was ignored.
fn ignored_header(headers: &mut HeaderMap, ignored: &[String]) {
    if ignored.is_empty() {
        return;
    }
    if let Ok(v) = HeaderValue::try_from(ignored.join(", ")) {
        headers.insert(IGNORED_HEADER, v);
    }
}

/// Headers for the upstream call of a translated request: the client's, minus what only means
/// something to OpenAI or would make upstream compress a body we must read.
fn translated_headers(client: &HeaderMap) -> HeaderMap {
    let mut out = HeaderMap::with_capacity(client.len());
    for (name, value) in client {
        let n = name.as_str();
        if n.starts_with("openai-")
            || n.starts_with("x-stainless-")
            || n == "accept-encoding"
            || n == "accept"
        {
            continue;
        }
        out.append(name.clone(), value.clone());
    }
    out.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    out
}

/// An OpenAI surface × Upstream: the translated request, and upstream's answer rendered back.
async fn translated(
    state: &AppState,
    surface: Surface,
    draft: Option<DraftCell>,
    client_headers: &HeaderMap,
    body: &[u8],
) -> Result<Response, ApiError> {
    let parsed = match parse(state, surface, draft.as_ref(), client_headers, body)? {
        Ok(parsed) => parsed,
        Err(refused) => return Ok(refused),
    };
    let anthropic = serde_json::to_vec(&parsed.anthropic)
        .map_err(|e| ApiError::new(ErrorKind::Internal, e.to_string()))?;
    let (anthropic, _, _) = with_identity(Bytes::from(anthropic))?;
    let sent = upstream::call(
        state,
        draft.as_ref(),
        Method::POST,
        &translated_headers(client_headers),
        "/v1/messages",
        anthropic,
    )
    .await?;

    let status = sent.status().as_u16();
    let mut headers = HeaderMap::new();
    for (name, value) in sent.headers() {
        if kept_header(name) {
            headers.append(name.clone(), value.clone());
        }
    }
    ignored_header(&mut headers, &parsed.ignored);
    if (200..300).contains(&status) && parsed.stream {
        let source = Source::upstream(sent, draft.clone());
        let renderer = Renderer::new(surface, &parsed);
        return Ok(render::stream(
            source,
            renderer,
            Keep::Nothing,
            draft,
            headers,
        ));
    }
    let bytes = sent.bytes().await.map_err(|e| {
        ApiError::new(
            ErrorKind::BadGateway,
            format!("reading the upstream response: {e}"),
        )
    })?;
    if let Some(d) = &draft {
        d.with(|d| {
            d.upstream_kind = Some(BodyKind::Json);
            d.keep(&bytes);
        });
    }
    if !(200..300).contains(&status) {
        let mut anthropic: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        if let Some(bucket) = anthropic["error"]["message"]
            .as_str()
            .and_then(crate::billing::Bucket::of_error)
        {
            headers.insert(
                crate::billing::HEADER,
                HeaderValue::from_static(bucket.as_str()),
            );
            if let Some(d) = &draft {
                d.with(|d| d.bucket = Some(bucket));
            }
        }
        explain_floor(state, draft.as_ref(), &mut anthropic, Side::Client);
        return Ok(render::error(surface, status, &anthropic, headers));
    }
    let message: Value = serde_json::from_slice(&bytes).map_err(|e| {
        ApiError::new(
            ErrorKind::BadGateway,
            format!("upstream answered something that is not JSON: {e}"),
        )
    })?;
    Ok(render::message(surface, &parsed, &message, None, headers))
}

/// Upstream's "Claude Code version too old" error (an Anthropic error body), made to say what to
/// update; the version asked for is remembered (and, for the CLI, alerted).
fn explain_floor(state: &AppState, draft: Option<&DraftCell>, error: &mut Value, side: Side) {
    let Some(floor) = error["error"]["message"]
        .as_str()
        .and_then(VersionFloor::find)
        .or_else(|| VersionFloor::find(&error["error"]["details"].to_string()))
    else {
        return;
    };
    let message = floor.explain(side);
    if side == Side::Cli {
        state.alerts.on_cli_problem(&message);
    }
    error["error"]["message"] = message.into();
    state.version_floor.note(side, floor);
    if let Some(d) = draft {
        d.with(|d| d.error_type = Some(crate::version_floor::ERROR_CODE.into()));
    }
}

/// Any surface × Claude Code: one turn of the CLI, its events rendered in the surface.
async fn claude_code(
    state: &Arc<AppState>,
    surface: Surface,
    draft: Option<DraftCell>,
    client_headers: &HeaderMap,
    body: &[u8],
    session: Option<&str>,
) -> Result<Response, ApiError> {
    let parsed = match parse(state, surface, draft.as_ref(), client_headers, body)? {
        Ok(parsed) => parsed,
        Err(refused) => return Ok(refused),
    };
    if let Some(key) = &parsed.server_setting {
        return Err(ApiError::new(
            ErrorKind::InvalidRequest,
            format!(
                "`{key}` is a server setting in Claude Code mode: a request cannot change the \
                 CLI's working directory, tools, permissions, MCP servers or turn limit \
                 (see claude.* in the configuration)"
            ),
        ));
    }
    let cli = turn::parse(&parsed.anthropic)?;
    let began = turn::begin(state, draft.as_ref(), &cli, session).await?;
    let mut headers = HeaderMap::new();
    let mut ignored = parsed.ignored.clone();
    ignored.extend(cli.ignored.iter().cloned());
    ignored_header(&mut headers, &ignored);
    let (events, first) = match began {
        turn::Began::Started(events, first) => (events, first),
        turn::Began::Failed(error) => {
            let mut body = error.body();
            explain_floor(state, draft.as_ref(), &mut body, Side::Cli);
            return Ok(render::error(surface, error.status, &body, headers));
        }
    };
    let keep = match surface {
        Surface::Messages => Keep::Output,
        _ => Keep::Events {
            all: state.stores_bodies(),
        },
    };
    if parsed.stream {
        let renderer = Renderer::new(surface, &parsed);
        return Ok(render::stream(
            Source::Turn(events, Some(first)),
            renderer,
            keep,
            draft,
            headers,
        ));
    }
    let keep_events = match keep {
        Keep::Output => Keep::Nothing,
        other => other,
    };
    if let (Keep::Events { .. }, Some(d)) = (keep_events, &draft) {
        d.with(|d| d.upstream_kind = Some(BodyKind::Sse));
    }
    match render::collect(events, first, keep_events, draft.as_ref()).await {
        Ok(message) => {
            // The CLI reports the reading with the answer: known here, not at a stream's start.
            if let Some(bucket) = draft.as_ref().and_then(|d| d.with(|d| d.bucket)) {
                headers.insert(
                    crate::billing::HEADER,
                    HeaderValue::from_static(bucket.as_str()),
                );
            }
            Ok(render::message(
                surface,
                &parsed,
                &message,
                draft.as_ref(),
                headers,
            ))
        }
        Err(error) => {
            if let Some(d) = &draft {
                d.with(|d| {
                    d.upstream_status = Some(error.status);
                    d.error_type = Some(error.kind.clone());
                });
            }
            let mut body = error.body();
            explain_floor(state, draft.as_ref(), &mut body, Side::Cli);
            Ok(render::error(surface, error.status, &body, headers))
        }
    }
}
