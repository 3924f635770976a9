//! Rendering an Anthropic answer in the client's surface: a whole message as JSON, an event
//! stream frame by frame as the events arrive, or an error in the surface's shape.
//!
//! A stream's events come from a [`Source`] — upstream's SSE bytes (decoded here, once) or a CLI
//! turn's events (already parsed) — and go through one [`Renderer`], a pure per-event state
//! machine of `ccproxy_protocol`. The async glue only moves events and bytes.

use super::turn::TurnEvents;
use super::{Parsed, Surface};
use crate::record::{BodyKind, DraftCell};
use crate::response_store::Save;
use axum::body::Body;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use ccproxy_protocol::anthropic::decode_event;
use ccproxy_protocol::claude_cli::{Events, TurnError};
use ccproxy_protocol::openai::chat_stream::ChatStream;
use ccproxy_protocol::openai::responses::{self, ResponsesStream};
use ccproxy_protocol::openai::{chat_response, error_body};
use ccproxy_protocol::sse::{data_frame, event_frame, SseDecoder, SseEvent};
use futures_util::stream::BoxStream;
use futures_util::StreamExt;
use serde_json::Value;
use std::borrow::Cow;

/// An Anthropic stream event: its type and data.
type Event = (Cow<'static, str>, Value);

/// Where a stream's Anthropic events come from.
pub enum Source {
    /// Upstream's SSE body; its chunks are kept for the record as they pass.
    Upstream {
        body: BoxStream<'static, reqwest::Result<Bytes>>,
        decoder: SseDecoder,
        draft: Option<DraftCell>,
    },
    /// A CLI turn, with its first events.
    Turn(Box<TurnEvents>, Option<Events>),
}

impl Source {
    /// Upstream's SSE body.
    pub fn upstream(response: reqwest::Response, draft: Option<DraftCell>) -> Self {
        if let Some(d) = &draft {
            d.with(|d| d.upstream_kind = Some(BodyKind::Sse));
        }
        Self::Upstream {
            body: response.bytes_stream().boxed(),
            decoder: SseDecoder::new(),
            draft,
        }
    }

    /// Appends the next events to `out`; `false` once the source has ended.
    async fn next(&mut self, out: &mut Vec<Event>) -> bool {
        match self {
            Self::Upstream {
                body,
                decoder,
                draft,
            } => {
                let mut decoded: Vec<SseEvent> = Vec::new();
                let more = match body.next().await {
                    Some(Ok(bytes)) => {
                        if let Some(d) = draft {
                            d.with(|d| d.keep(&bytes));
                        }
                        decoder.push(&bytes, &mut decoded);
                        true
                    }
                    Some(Err(e)) => {
                        tracing::warn!("upstream stream broke: {e}");
                        decoder.finish(&mut decoded);
                        false
                    }
                    None => {
                        decoder.finish(&mut decoded);
                        false
                    }
                };
                for event in &decoded {
                    match decode_event(event) {
                        Some((kind, data)) => out.push((Cow::Owned(kind), data)),
                        None => {
                            // A translation cannot go on past an event it could not read: the
                            // stream ends here with the surface's error, never as a success.
                            tracing::warn!(
                                event = event.event.as_deref().unwrap_or(""),
                                "upstream sent an event whose data is not JSON; ending the stream"
                            );
                            return false;
                        }
                    }
                }
                more
            }
            Self::Turn(turn, first) => {
                let events = match first.take() {
                    Some(events) => events,
                    None => turn.next().await,
                };
                out.extend(events.into_iter().map(|(k, v)| (Cow::Borrowed(k), v)));
                if turn.is_done() {
                    turn.end();
                    return false;
                }
                true
            }
        }
    }
}

/// Renders Anthropic events as the client's surface streams them.
pub enum Renderer {
    /// Anthropic SSE frames, as they are.
    Messages,
    Chat(Box<ChatStream>),
    /// With where the final response is kept, when it is.
    Responses(Box<ResponsesStream>, Option<Save>),
}

impl Renderer {
    pub fn new(surface: Surface, parsed: &Parsed) -> Self {
        match (surface, parsed.ctx.clone()) {
            (Surface::Chat, Some(ctx)) => Self::Chat(Box::new(ChatStream::new(ctx))),
            (Surface::Responses, Some(ctx)) => Self::Responses(
                Box::new(ResponsesStream::new(
                    ctx,
                    parsed.echo.clone().unwrap_or_default(),
                )),
                parsed.save.clone(),
            ),
            _ => Self::Messages,
        }
    }

    fn push(&mut self, kind: &str, data: &Value, out: &mut Vec<u8>) {
        match self {
            Self::Messages => out.extend(event_frame(kind, &data.to_string())),
            Self::Chat(s) => s
                .push_event(kind, data)
                .iter()
                .for_each(|c| out.extend(data_frame(&c.to_string()))),
            Self::Responses(s, _) => s
                .push_event(kind, data)
                .iter()
                .for_each(|(name, data)| out.extend(event_frame(name, &data.to_string()))),
        }
    }

    /// Whether the surface's stream is complete (Anthropic's ends with its source).
    fn is_done(&self) -> bool {
        match self {
            Self::Messages => false,
            Self::Chat(s) => s.is_done(),
            Self::Responses(s, _) => s.is_done(),
        }
    }

    /// The closing frames: an error if the source stopped early; `[DONE]` for Chat Completions.
    fn finish(&mut self, out: &mut Vec<u8>) {
        match self {
            Self::Messages => {}
            Self::Chat(s) => {
                s.finish()
                    .iter()
                    .for_each(|c| out.extend(data_frame(&c.to_string())));
                out.extend_from_slice(b"data: [DONE]\n\n");
            }
            Self::Responses(s, save) => {
                s.finish()
                    .iter()
                    .for_each(|(name, data)| out.extend(event_frame(name, &data.to_string())));
                if let (Some(save), Some(last)) = (save.take(), s.last_response()) {
                    save.put(last);
                }
            }
        }
    }
}

/// What of a CLI turn's events the record keeps (upstream's bytes are kept by the [`Source`]).
#[derive(Clone, Copy)]
pub enum Keep {
    /// Nothing here.
    Nothing,
    /// The frames sent (Anthropic SSE: they are the turn's events).
    Output,
    /// The usage-carrying events as Anthropic frames; every event when `all`.
    Events { all: bool },
}

impl Keep {
    fn event(self, draft: Option<&DraftCell>, kind: &str, data: &Value) {
        let (Self::Events { all }, Some(d)) = (self, draft) else {
            return;
        };
        if all || kind == "message_start" || kind == "message_delta" {
            let frame = Bytes::from(event_frame(kind, &data.to_string()));
            d.with(|d| d.keep(&frame));
        }
    }
}

/// The event stream response: headers at once, then each batch of events as the frames it
/// completes.
pub fn stream(
    source: Source,
    renderer: Renderer,
    keep: Keep,
    draft: Option<DraftCell>,
    mut headers: HeaderMap,
) -> Response {
    struct Pump {
        source: Source,
        renderer: Renderer,
        keep: Keep,
        draft: Option<DraftCell>,
        events: Vec<Event>,
        ended: bool,
    }
    if !matches!(keep, Keep::Nothing) {
        if let Some(d) = &draft {
            d.with(|d| d.upstream_kind = Some(BodyKind::Sse));
        }
    }
    let pump = Pump {
        source,
        renderer,
        keep,
        draft,
        events: Vec::new(),
        ended: false,
    };
    let body = futures_util::stream::unfold(pump, |mut p| async move {
        if p.ended {
            return None;
        }
        let mut out = Vec::new();
        loop {
            let more = p.source.next(&mut p.events).await;
            for (kind, data) in p.events.drain(..) {
                p.keep.event(p.draft.as_ref(), &kind, &data);
                p.renderer.push(&kind, &data, &mut out);
            }
            if p.renderer.is_done() || !more {
                p.renderer.finish(&mut out);
                p.ended = true;
            }
            if p.ended || !out.is_empty() {
                let bytes = Bytes::from(out);
                if let (Keep::Output, Some(d)) = (p.keep, &p.draft) {
                    d.with(|d| d.keep(&bytes));
                }
                return Some((Ok::<_, std::io::Error>(bytes), p));
            }
        }
    });
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream; charset=utf-8"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    let mut response = Response::new(Body::from_stream(body));
    *response.headers_mut() = headers;
    response
}

/// A CLI turn's whole message (or the error it ended with), its events folded as they come.
pub async fn collect(
    mut turn: Box<TurnEvents>,
    first: Events,
    keep: Keep,
    draft: Option<&DraftCell>,
) -> Result<Value, TurnError> {
    let mut acc = ccproxy_protocol::anthropic::message::Accumulator::default();
    let mut events = first;
    loop {
        for (kind, data) in &events {
            keep.event(draft, kind, data);
            acc.push(kind, data);
        }
        if turn.is_done() {
            break;
        }
        events = turn.next().await;
    }
    turn.end();
    match turn.error() {
        Some(error) => Err(error.clone()),
        None => Ok(acc.message()),
    }
}

/// A whole Anthropic message in the client's surface.
pub fn message(
    surface: Surface,
    parsed: &Parsed,
    message: &Value,
    draft: Option<&DraftCell>,
    headers: HeaderMap,
) -> Response {
    let mut response = match (surface, &parsed.ctx) {
        (Surface::Chat, Some(ctx)) => {
            axum::Json(chat_response::translate(message, ctx)).into_response()
        }
        (Surface::Responses, Some(ctx)) => {
            let response = responses::translate_response(
                message,
                ctx,
                &parsed.echo.clone().unwrap_or_default(),
            );
            if let Some(save) = &parsed.save {
                save.put(&response);
            }
            axum::Json(response).into_response()
        }
        _ => {
            let bytes = Bytes::from(message.to_string());
            if let Some(d) = draft {
                d.with(|d| {
                    d.upstream_kind = Some(BodyKind::Json);
                    d.keep(&bytes);
                });
            }
            (
                [(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                )],
                bytes,
            )
                .into_response()
        }
    };
    response.headers_mut().extend(headers);
    response
}

/// An Anthropic error body (upstream's, or a turn's) in the client's surface.
pub fn error(surface: Surface, status: u16, anthropic: &Value, headers: HeaderMap) -> Response {
    let code = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY);
    let mut response = match surface {
        Surface::Messages => (code, axum::Json(anthropic.clone())).into_response(),
        Surface::Chat | Surface::Responses => {
            (code, axum::Json(error_body(anthropic, status))).into_response()
        }
    };
    response.headers_mut().extend(headers);
    response
}
