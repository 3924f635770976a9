//! The OpenAI surface: `POST /api/v1/chat/completions` and `POST /api/v1/responses` (and the
//! same without `/v1`), translated to and from the Anthropic Messages API by
//! `ccproxy_protocol::openai`; the same under `/sdk` (and `/sdk/{session}`), where the Anthropic
//! side is a turn of the `claude` CLI (`routes/sdk`) instead of upstream.
//!
//! Streams are translated chunk by chunk as upstream events arrive (SSE decoder → the pure
//! `ChatStream` / `ResponsesStream` state machine → frames): Chat Completions as `data:` frames
//! ending with `data: [DONE]`, Responses as named events.

use super::api::{call_upstream, read_body};
use crate::error::{ApiError, Surface};
use crate::record::{surface, BodyKind, DraftCell};
use crate::server::AppState;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use ccproxy_protocol::error::ErrorKind;
use ccproxy_protocol::openai::chat_request::{self, Options};
use ccproxy_protocol::openai::chat_stream::ChatStream;
use ccproxy_protocol::openai::responses::{self, Echo, ResponsesStream};
use ccproxy_protocol::openai::{chat_response, error_body, ResponseContext};
use ccproxy_protocol::sse::{data_frame, event_frame, SseDecoder, SseEvent};
use futures_util::StreamExt;
use rand::Rng;
use serde_json::Value;
use std::sync::Arc;

/// Lists the request fields that were ignored.
pub const IGNORED_HEADER: &str = "x-ccproxy-ignored-params";

/// Upstream headers worth passing back to OpenAI clients.
fn kept_header(name: &HeaderName) -> bool {
    let n = name.as_str();
    n == "request-id"
        || n == "retry-after"
        || n == "x-should-retry"
        || n.starts_with("anthropic-ratelimit-")
}

fn openai_error(kind: ErrorKind, message: impl Into<String>) -> ApiError {
    let mut e = ApiError::new(kind, message);
    e.surface = Surface::OpenAi;
    e
}

/// A new id: `prefix` and 24 random alphanumerics.
fn new_id(prefix: &str) -> String {
    let mut rng = rand::thread_rng();
    let suffix: String = (0..24)
        .map(|_| rng.sample(rand::distributions::Alphanumeric) as char)
        .collect();
    format!("{prefix}{suffix}")
}

/// Which OpenAI API a request speaks.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Api {
    Chat,
    Responses,
}

/// Headers for the upstream call: the client's, minus what only means something to OpenAI or
/// would make upstream compress a body we must read.
fn upstream_headers(client: &HeaderMap) -> HeaderMap {
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

/// Where the Anthropic side of a request is answered.
enum Backend {
    /// Upstream, through API mode.
    Api,
    /// A turn of the `claude` CLI, in a session when given.
    Sdk(Option<String>),
}

/// `POST /api/v1/chat/completions`, `POST /api/chat/completions`
pub async fn chat_completions(State(state): State<Arc<AppState>>, request: Request) -> Response {
    handle(&state, request, Api::Chat, Backend::Api).await
}

/// `POST /api/v1/responses`, `POST /api/responses`
pub async fn responses(State(state): State<Arc<AppState>>, request: Request) -> Response {
    handle(&state, request, Api::Responses, Backend::Api).await
}

/// `POST /sdk/v1/chat/completions`, `POST /sdk/chat/completions`
pub async fn sdk_chat_completions(
    State(state): State<Arc<AppState>>,
    request: Request,
) -> Response {
    handle(&state, request, Api::Chat, Backend::Sdk(None)).await
}

/// `POST /sdk/v1/responses`, `POST /sdk/responses`
pub async fn sdk_responses(State(state): State<Arc<AppState>>, request: Request) -> Response {
    handle(&state, request, Api::Responses, Backend::Sdk(None)).await
}

/// `POST /sdk/{session}/v1/chat/completions`
pub async fn session_chat_completions(
    State(state): State<Arc<AppState>>,
    axum::extract::Path(session): axum::extract::Path<String>,
    request: Request,
) -> Response {
    handle(&state, request, Api::Chat, Backend::Sdk(Some(session))).await
}

/// `POST /sdk/{session}/v1/responses`
pub async fn session_responses(
    State(state): State<Arc<AppState>>,
    axum::extract::Path(session): axum::extract::Path<String>,
    request: Request,
) -> Response {
    handle(&state, request, Api::Responses, Backend::Sdk(Some(session))).await
}

async fn handle(state: &Arc<AppState>, request: Request, api: Api, backend: Backend) -> Response {
    match translate_call(state, request, api, backend).await {
        Ok(response) => response,
        Err(mut e) => {
            e.surface = Surface::OpenAi;
            e.into_response()
        }
    }
}

async fn translate_call(
    state: &Arc<AppState>,
    request: Request,
    api: Api,
    backend: Backend,
) -> Result<Response, ApiError> {
    let (parts, body) = request.into_parts();
    let draft = parts.extensions.get::<DraftCell>().cloned();
    let sdk = matches!(backend, Backend::Sdk(_));
    if let Some(d) = &draft {
        d.with(|d| {
            d.mode = Some(if sdk { "sdk" } else { "api" });
            d.surface = Some(if api == Api::Chat {
                surface::OPENAI_CHAT
            } else {
                surface::OPENAI_RESPONSES
            });
        });
    }
    let body = read_body(state, &parts.headers, body).await?;
    if let (Some(d), true) = (&draft, state.config.observability.store_bodies) {
        d.with(|d| d.request_body = Some(body.clone()));
    }
    let req: Value = serde_json::from_slice(&body).map_err(|e| {
        openai_error(
            ErrorKind::InvalidRequest,
            format!("the request body is not valid JSON: {e}"),
        )
    })?;
    if sdk {
        // The translation drops fields it does not know; Claude Code mode refuses these instead.
        if let Some(key) = req.as_object().and_then(|o| {
            o.keys().find(|k| {
                *k != "tools"
                    && *k != "tool_choice"
                    && ccproxy_protocol::claude_cli::SERVER_SETTINGS.contains(&k.as_str())
            })
        }) {
            return Err(openai_error(
                ErrorKind::InvalidRequest,
                format!(
                    "`{key}` is a server setting in Claude Code mode: a request cannot change the \
                     CLI's working directory, tools, permissions, MCP servers or turn limit \
                     (see claude.* in the configuration)"
                ),
            ));
        }
    }
    let options = Options {
        default_max_tokens: state.config.openai.default_max_tokens,
        aliases: &state.aliases,
    };
    let translated = match api {
        Api::Chat => chat_request::translate(&req, &options),
        Api::Responses => responses::translate(&req, &options),
    };
    let translated = match translated {
        Ok(t) => t,
        Err(e) => {
            return Ok((StatusCode::BAD_REQUEST, axum::Json(e.body())).into_response());
        }
    };
    if let Some(d) = &draft {
        d.with(|d| {
            d.model_requested = Some(translated.requested_model.clone());
            d.stream = translated.stream;
        });
    }
    let ctx = ResponseContext {
        id: new_id(if api == Api::Chat {
            "chatcmpl-"
        } else {
            "resp_"
        }),
        created: (crate::clock::unix_ms() / 1000),
        model: translated.requested_model.clone(),
        include_usage: translated.include_usage,
        structured_tool: translated.structured_tool.clone(),
    };
    let upstream: Response = match &backend {
        Backend::Api => {
            let anthropic = serde_json::to_vec(&translated.body)
                .map_err(|e| openai_error(ErrorKind::Internal, e.to_string()))?;
            let upstream = call_upstream(
                state,
                draft.as_ref(),
                &upstream_headers(&parts.headers),
                "/v1/messages",
                Bytes::from(anthropic),
            )
            .await?;
            let status =
                StatusCode::from_u16(upstream.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
            let headers = upstream.headers().clone();
            let mut response = Response::new(Body::from_stream(upstream.bytes_stream()));
            *response.status_mut() = status;
            *response.headers_mut() = headers;
            response
        }
        Backend::Sdk(session) => {
            super::sdk::run(state, draft.as_ref(), &translated.body, session.as_deref()).await?
        }
    };

    let status = upstream.status();
    let mut headers = HeaderMap::new();
    let mut ignored = translated.ignored.clone();
    for (name, value) in upstream.headers() {
        if name == IGNORED_HEADER {
            ignored.extend(value.to_str().unwrap_or("").split(", ").map(String::from));
        } else if kept_header(name) {
            headers.append(name.clone(), value.clone());
        }
    }
    if !ignored.is_empty() {
        if let Ok(v) = HeaderValue::try_from(ignored.join(", ")) {
            headers.insert(IGNORED_HEADER, v);
        }
    }
    let upstream = upstream.into_body();

    // The Claude Code side keeps its own output for the record.
    let keep = |bytes: &Bytes, kind: BodyKind| {
        if let (Some(d), false) = (&draft, sdk) {
            d.with(|d| {
                d.upstream_kind = Some(kind);
                d.keep(bytes);
            });
        }
    };
    if !status.is_success() {
        let bytes = axum::body::to_bytes(upstream, usize::MAX)
            .await
            .unwrap_or_default();
        keep(&bytes, BodyKind::Json);
        let anthropic: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        let mut response =
            (status, axum::Json(error_body(&anthropic, status.as_u16()))).into_response();
        response.headers_mut().extend(headers);
        return Ok(response);
    }

    if translated.stream {
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/event-stream; charset=utf-8"),
        );
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        let translator = match api {
            Api::Chat => Translator::Chat(ChatStream::new(ctx)),
            Api::Responses => {
                Translator::Responses(Box::new(ResponsesStream::new(ctx, Echo::of(&req))))
            }
        };
        if let (Some(d), false) = (&draft, sdk) {
            d.with(|d| d.upstream_kind = Some(BodyKind::Sse));
        }
        let mut response = Response::new(Body::from_stream(translate_stream(
            upstream,
            translator,
            draft.filter(|_| !sdk),
        )));
        *response.headers_mut() = headers;
        return Ok(response);
    }

    let bytes = axum::body::to_bytes(upstream, usize::MAX)
        .await
        .map_err(|e| {
            openai_error(
                ErrorKind::BadGateway,
                format!("reading the upstream response: {e}"),
            )
        })?;
    keep(&bytes, BodyKind::Json);
    let message: Value = serde_json::from_slice(&bytes).map_err(|e| {
        openai_error(
            ErrorKind::BadGateway,
            format!("upstream answered something that is not JSON: {e}"),
        )
    })?;
    let translated = match api {
        Api::Chat => chat_response::translate(&message, &ctx),
        Api::Responses => responses::translate_response(&message, &ctx, &Echo::of(&req)),
    };
    let mut response = axum::Json(translated).into_response();
    response.headers_mut().extend(headers);
    Ok(response)
}

/// A stream translation and how its output is framed.
enum Translator {
    Chat(ChatStream),
    Responses(Box<ResponsesStream>),
}

impl Translator {
    fn push(&mut self, event: &SseEvent, out: &mut Vec<u8>) {
        match self {
            Self::Chat(s) => s
                .push(event)
                .iter()
                .for_each(|c| out.extend(data_frame(&c.to_string()))),
            Self::Responses(s) => s
                .push(event)
                .iter()
                .for_each(|(name, data)| out.extend(event_frame(name, &data.to_string()))),
        }
    }

    fn is_done(&self) -> bool {
        match self {
            Self::Chat(s) => s.is_done(),
            Self::Responses(s) => s.is_done(),
        }
    }

    /// The closing frames: an error if upstream stopped early; `[DONE]` for Chat Completions.
    fn finish(&mut self, out: &mut Vec<u8>) {
        match self {
            Self::Chat(s) => {
                s.finish()
                    .iter()
                    .for_each(|c| out.extend(data_frame(&c.to_string())));
                out.extend_from_slice(b"data: [DONE]\n\n");
            }
            Self::Responses(s) => s
                .finish()
                .iter()
                .for_each(|(name, data)| out.extend(event_frame(name, &data.to_string()))),
        }
    }
}

/// The translated stream: each upstream chunk becomes the frames it completes.
fn translate_stream(
    upstream: Body,
    translator: Translator,
    draft: Option<DraftCell>,
) -> impl futures_util::Stream<Item = Result<Bytes, std::io::Error>> {
    struct Pump {
        upstream: axum::body::BodyDataStream,
        decoder: SseDecoder,
        translator: Translator,
        events: Vec<SseEvent>,
        ended: bool,
        draft: Option<DraftCell>,
    }
    let pump = Pump {
        upstream: upstream.into_data_stream(),
        decoder: SseDecoder::new(),
        translator,
        events: Vec::new(),
        ended: false,
        draft,
    };
    futures_util::stream::unfold(pump, |mut p| async move {
        if p.ended {
            return None;
        }
        let mut out = Vec::new();
        loop {
            match p.upstream.next().await {
                Some(Ok(bytes)) => {
                    if let Some(d) = &p.draft {
                        d.with(|d| d.keep(&bytes));
                    }
                    p.decoder.push(&bytes, &mut p.events)
                }
                Some(Err(e)) => {
                    tracing::warn!("upstream stream broke: {e}");
                    p.decoder.finish(&mut p.events);
                    p.ended = true;
                }
                None => {
                    p.decoder.finish(&mut p.events);
                    p.ended = true;
                }
            }
            for event in p.events.drain(..) {
                p.translator.push(&event, &mut out);
            }
            if p.translator.is_done() || p.ended {
                p.translator.finish(&mut out);
                p.ended = true;
                return Some((Ok(Bytes::from(out)), p));
            }
            if !out.is_empty() {
                return Some((Ok(Bytes::from(out)), p));
            }
        }
    })
}
