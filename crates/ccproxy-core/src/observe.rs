//! The end of every request: one [`RequestRecord`], built when the response body is finished —
//! completely, with an error, or because the client went away — feeding the access log line, the
//! metrics and (for requests through the proxy, and errors) the request log.
//!
//! The body is watched, never buffered: chunks pass through as they come; the watcher notes the
//! first byte, the first token of a stream (a cheap substring search of the chunk), and the end.

use crate::billing::Bucket;
use crate::error::ErrorTag;
use crate::exchange::{Surface, TokenMarker};
use crate::record::{DraftCell, RequestRecord};
use crate::request_log::Pending;
use crate::state::AppState;
use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, Method};
use axum::response::Response;
use bytes::Bytes;
use pin_project_lite::pin_project;
use rand::Rng;
use std::borrow::Cow;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Instant;
use tower::Service;

/// The method's name, without an allocation for the standard ones.
fn static_method(method: &Method) -> Cow<'static, str> {
    const KNOWN: [Method; 9] = [
        Method::GET,
        Method::POST,
        Method::PUT,
        Method::DELETE,
        Method::HEAD,
        Method::OPTIONS,
        Method::PATCH,
        Method::CONNECT,
        Method::TRACE,
    ];
    match KNOWN.iter().find(|k| *k == method) {
        Some(k) => Cow::Borrowed(k.as_str()),
        None => Cow::Owned(method.as_str().to_string()),
    }
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
    method: Cow<'static, str>,
    user_agent: Option<String>,
    status: u16,
    error_tag: Option<&'static str>,
    event_stream: bool,
    /// What marks the first token in this response's stream.
    token_markers: &'static [TokenMarker],
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
        let billing = bucket_of(&draft, self.status);
        let record = RequestRecord {
            id: 0,
            ts: self.ts,
            request_id: std::mem::take(&mut self.request_id),
            mode: Cow::Borrowed(draft_mode.unwrap_or("none")),
            surface: Cow::Borrowed(draft.surface.map_or("other", Surface::name)),
            method: std::mem::take(&mut self.method),
            route: draft
                .route
                .as_ref()
                .map_or("unmatched", |p| p.as_str())
                .to_string(),
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
            turn_id: draft.turn_id,
            user_agent: self.user_agent.take(),
            error_type: draft
                .error_type
                .or_else(|| self.error_tag.map(String::from))
                .or_else(|| (!self.ended).then(|| "client_disconnected".to_string())),
            client_disconnected: !self.ended,
            upstream_request_id: draft.upstream_request_id,
            quota_status: draft.quota.as_ref().and_then(|q| q.status.clone()),
            billing: draft_mode.map(|_| Cow::Borrowed(billing.as_str())),
            quota_5h_utilization: draft.quota.as_ref().and_then(|q| q.five_hour_utilization),
            quota_7d_utilization: draft.quota.as_ref().and_then(|q| q.seven_day_utilization),
            request_body: None,
            response_body: None,
        };
        let metrics = self.state.metrics.ended(&record);
        // Requests through the proxy (a handler set the mode) and errors are logged; the
        // dashboard's own calls (status routes, and its mistakes on the log routes) are not.
        let dashboard = record.route.starts_with("/logs/")
            || matches!(record.route.as_str(), "/metrics" | "/api/quota");
        // The log's writer prints the access line once tokens and cost are known; a record not
        // queued gets it here.
        let format = self.state.config.server.log_format;
        if draft_mode.is_some() || (record.status >= 400 && !dashboard) {
            let pending = Pending {
                record,
                body: draft.upstream_body,
                kind: draft.upstream_kind,
                request_body: draft.request_body,
                metrics,
            };
            if let Some(p) = self.state.request_log.submit(pending) {
                crate::access_log::print(&p.record, format);
            }
        } else {
            crate::access_log::print(&record, format);
        }
    }
}

/// A model request's bucket, as the handlers found it (an error's text, else the reading);
/// for a failed request no handler read, what its kept error body says (it is small).
fn bucket_of(draft: &crate::record::Draft, status: u16) -> Bucket {
    if draft.bucket == Some(Bucket::ExtraUsage) {
        return Bucket::ExtraUsage;
    }
    if status >= 400 || draft.upstream_status.is_some_and(|s| s >= 400) {
        let said = draft
            .upstream_body
            .iter()
            .find_map(|chunk| Bucket::of_error(&String::from_utf8_lossy(chunk)));
        if let Some(b) = said {
            return b;
        }
    }
    draft.bucket.unwrap_or(Bucket::Unknown)
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
                        && this.finish.token_markers.iter().any(|m| m.is_in(chunk))
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

/// The observing middleware: wraps the whole application, outside the router (so it costs no
/// per-route service clone). The route template, known only inside the router, reaches the
/// draft from [`crate::guard::admit`], the first thing every route runs. `state: None` (with
/// `observability.enabled = false`) passes requests through untouched.
#[derive(Clone)]
pub struct Observe<S> {
    state: Option<Arc<AppState>>,
    inner: S,
}

impl<S> Observe<S> {
    pub fn new(state: Option<Arc<AppState>>, inner: S) -> Self {
        Self { state, inner }
    }
}

impl<S> Service<Request> for Observe<S>
where
    S: Service<Request, Response = Response, Error = Infallible>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Observing<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    /// Starts the request's draft and its [`Finish`]; the handler runs inside.
    fn call(&mut self, mut request: Request) -> Self::Future {
        let Some(state) = &self.state else {
            return Observing {
                inner: self.inner.call(request),
                finish: None,
            };
        };
        let started = Instant::now();
        let draft = DraftCell::default();
        request.extensions_mut().insert(draft.clone());
        let user_agent = request
            .headers()
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|s| s.chars().take(200).collect());
        state.metrics.started();
        let finish = Finish {
            state: state.clone(),
            draft,
            started,
            ts: crate::clock::unix_ms() as i64,
            request_id: request_id(),
            method: static_method(request.method()),
            user_agent,
            // Until a response exists: if the handler is dropped first, the client went away.
            status: CLIENT_CLOSED,
            error_tag: None,
            event_stream: false,
            token_markers: &[],
            first_byte: None,
            first_token: None,
            expected_len: None,
            sent: 0,
            ended: false,
        };
        Observing {
            inner: self.inner.call(request),
            finish: Some(finish),
        }
    }
}

/// The status recorded for a request whose client went away before the response started
/// (nginx's "client closed request").
const CLIENT_CLOSED: u16 = 499;

pin_project! {
    /// The handler's future; when it yields the response, the response's body is watched.
    pub struct Observing<F> {
        #[pin]
        inner: F,
        finish: Option<Finish>,
    }
}

impl<F> Future for Observing<F>
where
    F: Future<Output = Result<Response, Infallible>>,
{
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let Ok(response) = ready!(this.inner.poll(cx));
        let Some(mut finish) = this.finish.take() else {
            return Poll::Ready(Ok(response));
        };
        let (parts, body) = response.into_parts();
        finish.status = parts.status.as_u16();
        finish.error_tag = parts.extensions.get::<ErrorTag>().map(|t| t.0);
        finish.event_stream = parts
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("text/event-stream"));
        if finish.event_stream {
            finish.token_markers = finish
                .draft
                .with(|d| d.surface)
                .map_or(TokenMarker::any(), Surface::token_markers);
        }
        finish.expected_len = parts
            .headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok())
            .or_else(|| http_body::Body::size_hint(&body).exact());
        Poll::Ready(Ok(Response::from_parts(
            parts,
            Body::new(Watched {
                inner: body,
                finish,
            }),
        )))
    }
}
