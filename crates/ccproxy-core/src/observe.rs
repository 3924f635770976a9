//! The end of every request: one [`RequestRecord`], built when the response body is finished —
//! completely, with an error, or because the client went away — feeding the access log line, the
//! metrics and (for requests through the proxy, and errors) the request log.
//!
//! The body is watched, never buffered: chunks pass through as they come; the watcher notes the
//! first byte, the first token of a stream (a cheap substring search of the chunk), and the end.

use crate::error::ErrorTag;
use crate::record::{surface, DraftCell, RequestRecord};
use crate::request_log::Pending;
use crate::server::AppState;
use axum::body::Body;
use axum::extract::{MatchedPath, Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::Response;
use bytes::Bytes;
use rand::Rng;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

/// Markers of the first generated token in the streams the proxy sends.
const TOKEN_MARKERS: [&[u8]; 5] = [
    b"content_block_delta",
    b"\"content\":\"",
    b"\"reasoning_content\":",
    b"\"tool_calls\":[{\"index\"",
    b".delta\"",
];

fn has_token(chunk: &[u8]) -> bool {
    TOKEN_MARKERS
        .iter()
        .any(|m| memchr::memmem::find(chunk, m).is_some())
}

fn request_id() -> String {
    format!("{:016x}", rand::thread_rng().gen::<u64>())
}

struct Finish {
    state: Arc<AppState>,
    draft: DraftCell,
    started: Instant,
    ts: i64,
    request_id: String,
    method: String,
    route: String,
    user_agent: Option<String>,
    status: u16,
    error_tag: Option<&'static str>,
    event_stream: bool,
    first_byte: Option<Instant>,
    first_token: Option<Instant>,
    /// `Content-Length` of the response: hyper stops polling once that much is sent.
    expected_len: Option<u64>,
    sent: u64,
    ended: bool,
}

impl Drop for Finish {
    fn drop(&mut self) {
        if self.expected_len == Some(self.sent) {
            self.ended = true;
        }
        let ms = |t: Instant| (t - self.started).as_secs_f64() * 1000.0;
        let (draft_mode, draft) = self.draft.with(|d| (d.mode, std::mem::take(d)));
        let ttfb = self.first_byte.map(ms);
        let record = RequestRecord {
            id: 0,
            ts: self.ts,
            request_id: std::mem::take(&mut self.request_id),
            mode: draft_mode.unwrap_or("none").to_string(),
            surface: draft.surface.unwrap_or(surface::OTHER).to_string(),
            method: std::mem::take(&mut self.method),
            route: std::mem::take(&mut self.route),
            model_requested: draft.model_requested,
            model_served: None,
            stream: draft.stream,
            status: self.status,
            upstream_status: draft.upstream_status,
            duration_ms: self.started.elapsed().as_secs_f64() * 1000.0,
            ttfb_ms: ttfb,
            ttft_ms: if self.event_stream {
                self.first_token.map(ms)
            } else {
                ttfb
            },
            input_tokens: 0,
            output_tokens: 0,
            cache_read_tokens: 0,
            cache_write_tokens: 0,
            cost_usd: None,
            cli_cost_usd: draft.cli_cost_usd,
            user_agent: self.user_agent.take(),
            error_type: draft
                .error_type
                .or_else(|| self.error_tag.map(String::from))
                .or_else(|| (!self.ended).then(|| "client_disconnected".to_string())),
            client_disconnected: !self.ended,
            upstream_request_id: draft.upstream_request_id,
            quota_status: draft.quota.as_ref().and_then(|q| q.status.clone()),
            quota_5h_utilization: draft.quota.as_ref().and_then(|q| q.five_hour_utilization),
            quota_7d_utilization: draft.quota.as_ref().and_then(|q| q.seven_day_utilization),
            request_body: None,
            response_body: None,
        };
        tracing::info!(
            target: "ccproxy::access",
            method = %record.method,
            path = %record.route,
            status = record.status,
            request_id = %record.request_id,
            model = record.model_requested.as_deref().unwrap_or("-"),
            ms = record.duration_ms,
            disconnected = record.client_disconnected,
            "request"
        );
        self.state.metrics.ended(&record);
        // Requests through the proxy (a handler set the mode) and errors are logged; the
        // dashboard's own calls (status routes, and its mistakes on the log routes) are not.
        let dashboard = record.route.starts_with("/logs/")
            || matches!(record.route.as_str(), "/metrics" | "/api/quota");
        if draft_mode.is_some() || (record.status >= 400 && !dashboard) {
            self.state.request_log.submit(Pending {
                record,
                body: draft.upstream_body,
                kind: draft.upstream_kind,
                request_body: draft.request_body,
            });
        }
    }
}

/// The response body, watched frame by frame (an `http_body::Body` around the real one, so the
/// frames pass through without conversion and the size hint is kept).
struct Watched {
    inner: Body,
    finish: Finish,
}

impl http_body::Body for Watched {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, axum::Error>>> {
        let this = &mut *self;
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(chunk) = frame.data_ref() {
                    let now = Instant::now();
                    this.finish.sent += chunk.len() as u64;
                    this.finish.first_byte.get_or_insert(now);
                    if this.finish.event_stream
                        && this.finish.first_token.is_none()
                        && has_token(chunk)
                    {
                        this.finish.first_token = Some(now);
                    }
                }
            }
            Poll::Ready(None) => this.finish.ended = true,
            Poll::Ready(Some(Err(_))) => {
                this.finish.ended = true;
                this.finish.error_tag.get_or_insert("stream_error");
            }
            Poll::Pending => {}
        }
        polled
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// Middleware: starts the request's draft, and finishes its record when the body ends.
pub async fn observe(
    State(state): State<Arc<AppState>>,
    mut request: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let ts = crate::clock::unix_ms() as i64;
    let draft = DraftCell::default();
    request.extensions_mut().insert(draft.clone());
    let method = request.method().to_string();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "unmatched".into());
    let user_agent = request
        .headers()
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(|s| s.chars().take(200).collect());
    state.metrics.started();
    let response = next.run(request).await;
    let (parts, body) = response.into_parts();
    let event_stream = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/event-stream"));
    let finish = Finish {
        state,
        draft,
        started,
        ts,
        request_id: request_id(),
        method,
        route,
        user_agent,
        status: parts.status.as_u16(),
        error_tag: parts.extensions.get::<ErrorTag>().map(|t| t.0),
        event_stream,
        first_byte: None,
        first_token: None,
        expected_len: parts
            .headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok())
            .or_else(|| http_body::Body::size_hint(&body).exact()),
        sent: 0,
        ended: false,
    };
    Response::from_parts(
        parts,
        Body::new(Watched {
            inner: body,
            finish,
        }),
    )
}
