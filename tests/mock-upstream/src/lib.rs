//! A mock of the Anthropic API and its OAuth token endpoint, on `127.0.0.1:0`, for CCProxy's
//! tests and benchmark.
//!
//! It records every request (method, path with query, headers, body) and answers according to
//! the `x-mock` request header, which the proxy passes through untouched:
//!
//! | `x-mock`        | answer                                                                  |
//! |-----------------|-------------------------------------------------------------------------|
//! | (none)          | a message; SSE when the body has `"stream":true`                         |
//! | `error-429`     | 429 rate-limit error with `retry-after`, `x-should-retry`, `request-id` |
//! | `error-500`     | 500 api error                                                            |
//! | `stream-break`  | SSE: two events, then the connection is cut mid-stream                    |
//! | `gated`         | SSE: first event, then waits for [`Mock::open_gate`] before the rest      |
//! | `slow`          | SSE: an event every 20 ms for a minute; counts dropped streams            |
//!
//! When [`Mock::require_token`] is set, `/v1/*` answers 401 unless the bearer token matches;
//! after [`Mock::reject_all_tokens`] it answers 401 to every token.
//! `POST /v1/oauth/token` implements the refresh grant with rotating refresh tokens.

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::serve::ListenerExt;
use axum::Router;
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Notify;

/// One request as the mock received it.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    /// Path and query, e.g. `/v1/messages?beta=true`.
    pub uri: String,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Recorded {
    /// A header's value as text ("" when absent).
    pub fn header(&self, name: &str) -> String {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string()
    }
}

#[derive(Default)]
struct Shared {
    record: AtomicBool,
    requests: Mutex<Vec<Recorded>>,
    /// When set, `/v1/*` requires `Authorization: Bearer <this>`.
    access_token: Mutex<Option<String>>,
    refresh_token: Mutex<Option<String>>,
    /// When set, `/v1/*` answers 401 whatever the token.
    reject_all: AtomicBool,
    token_calls: AtomicU64,
    token_delay_ms: AtomicU64,
    rotation: AtomicU64,
    gate: Notify,
    streams_dropped: AtomicU64,
    stream_dropped: Notify,
    /// Size of the text in non-streaming replies, and number of deltas in streams.
    reply_text_len: AtomicU64,
    stream_deltas: AtomicU64,
}

/// A running mock. Dropping it stops the server.
pub struct Mock {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Mock {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Mock {
    /// Starts a mock that records requests.
    pub async fn start() -> Self {
        Self::start_with(true).await
    }

    /// Starts a mock; `record: false` keeps memory flat under load (benchmark).
    pub async fn start_with(record: bool) -> Self {
        let shared = Arc::new(Shared::default());
        shared.record.store(record, Ordering::Relaxed);
        shared.reply_text_len.store(64, Ordering::Relaxed);
        shared.stream_deltas.store(8, Ordering::Relaxed);
        let app = Router::new()
            .route("/v1/messages", post(messages))
            .route("/v1/messages/count_tokens", post(count_tokens))
            .route("/v1/models", get(models))
            .route("/v1/oauth/token", post(token))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind mock upstream");
        let addr = listener.local_addr().expect("mock address");
        let listener = listener.tap_io(|tcp| {
            let _ = tcp.set_nodelay(true);
        });
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { addr, shared, task }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every request received so far.
    pub fn requests(&self) -> Vec<Recorded> {
        self.shared.requests.lock().expect("lock").clone()
    }

    /// Requires this bearer token on `/v1/*` from now on.
    pub fn require_token(&self, access: &str) {
        *self.shared.access_token.lock().expect("lock") = Some(access.to_string());
    }

    /// The refresh token the token endpoint accepts; a refresh rotates both tokens.
    pub fn accept_refresh_token(&self, refresh: &str) {
        *self.shared.refresh_token.lock().expect("lock") = Some(refresh.to_string());
    }

    /// Makes `/v1/*` answer 401 to every token (a revoked account).
    pub fn reject_all_tokens(&self) {
        self.shared.reject_all.store(true, Ordering::SeqCst);
    }

    /// How many times the token endpoint was called.
    pub fn token_calls(&self) -> u64 {
        self.shared.token_calls.load(Ordering::SeqCst)
    }

    /// Makes the token endpoint take this long (widens race windows in tests).
    pub fn set_token_delay(&self, delay: Duration) {
        self.shared
            .token_delay_ms
            .store(delay.as_millis() as u64, Ordering::Relaxed);
    }

    /// Sets the size of replies: characters of text, and deltas per stream.
    pub fn set_reply_size(&self, text_len: u64, deltas: u64) {
        self.shared
            .reply_text_len
            .store(text_len, Ordering::Relaxed);
        self.shared
            .stream_deltas
            .store(deltas.max(1), Ordering::Relaxed);
    }

    /// Releases every `gated` stream waiting now or later (one permit per call).
    pub fn open_gate(&self) {
        self.shared.gate.notify_one();
    }

    /// How many `slow` streams were dropped before they finished (the client went away).
    pub fn streams_dropped(&self) -> u64 {
        self.shared.streams_dropped.load(Ordering::SeqCst)
    }

    /// Waits until a `slow` stream has been dropped, or `timeout` passes; true if dropped.
    pub async fn wait_stream_dropped(&self, timeout: Duration) -> bool {
        let wait = async {
            loop {
                let notified = self.shared.stream_dropped.notified();
                if self.streams_dropped() > 0 {
                    return;
                }
                notified.await;
            }
        };
        tokio::time::timeout(timeout, wait).await.is_ok()
    }
}

fn error(status: StatusCode, kind: &str, message: &str) -> Response {
    let mut r = (
        status,
        [
            ("content-type", "application/json"),
            ("request-id", "req_mock_err"),
        ],
        json!({"type":"error","error":{"type":kind,"message":message}}).to_string(),
    )
        .into_response();
    if status == StatusCode::TOO_MANY_REQUESTS {
        r.headers_mut()
            .insert("retry-after", "7".parse().expect("header"));
        r.headers_mut()
            .insert("x-should-retry", "true".parse().expect("header"));
    }
    r
}

async fn record(shared: &Shared, request: Request) -> Recorded {
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap_or_default();
    let rec = Recorded {
        method: parts.method.to_string(),
        uri: parts.uri.to_string(),
        headers: parts.headers,
        body,
    };
    if shared.record.load(Ordering::Relaxed) {
        shared.requests.lock().expect("lock").push(rec.clone());
    }
    rec
}

fn authorized(shared: &Shared, rec: &Recorded) -> bool {
    if shared.reject_all.load(Ordering::SeqCst) {
        return false;
    }
    match &*shared.access_token.lock().expect("lock") {
        None => true,
        Some(token) => rec.header("authorization") == format!("Bearer {token}"),
    }
}

fn quota_headers(r: &mut Response) {
    for (k, v) in [
        ("request-id", "req_mock_1"),
        ("anthropic-ratelimit-unified-status", "allowed"),
        ("anthropic-ratelimit-unified-5h-utilization", "0.25"),
        ("anthropic-ratelimit-unified-7d-utilization", "0.5"),
    ] {
        r.headers_mut().insert(k, v.parse().expect("header"));
    }
}

fn message_json(model: &str, text: &str) -> Value {
    json!({
        "id": "msg_mock_1",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [{"type": "text", "text": text}],
        "stop_reason": "end_turn",
        "stop_sequence": null,
        "usage": {"input_tokens": 12, "output_tokens": 6}
    })
}

fn sse(event: &str, data: &Value) -> Bytes {
    Bytes::from(format!("event: {event}\ndata: {data}\n\n"))
}

/// The events of a streamed message with `deltas` text deltas.
fn stream_events(model: &str, deltas: u64, delta_len: usize) -> Vec<Bytes> {
    let mut msg = message_json(model, "");
    msg["content"] = json!([]);
    msg["stop_reason"] = Value::Null;
    let mut events = vec![
        sse(
            "message_start",
            &json!({"type":"message_start","message":msg}),
        ),
        sse(
            "content_block_start",
            &json!({"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}),
        ),
        sse("ping", &json!({"type":"ping"})),
    ];
    let chunk = "x".repeat(delta_len.max(1));
    for _ in 0..deltas {
        events.push(sse(
            "content_block_delta",
            &json!({"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":chunk}}),
        ));
    }
    events.push(sse(
        "content_block_stop",
        &json!({"type":"content_block_stop","index":0}),
    ));
    events.push(sse(
        "message_delta",
        &json!({"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":6}}),
    ));
    events.push(sse("message_stop", &json!({"type":"message_stop"})));
    events
}

fn sse_response(body: Body) -> Response {
    let mut r = Response::new(body);
    r.headers_mut().insert(
        "content-type",
        "text/event-stream; charset=utf-8".parse().expect("header"),
    );
    r.headers_mut()
        .insert("cache-control", "no-cache".parse().expect("header"));
    quota_headers(&mut r);
    r
}

/// Counts a `slow` stream dropped before its end.
struct DropGuard {
    shared: Arc<Shared>,
    finished: bool,
}

impl DropGuard {
    fn finish(&mut self) {
        self.finished = true;
    }
}

impl Drop for DropGuard {
    fn drop(&mut self) {
        if !self.finished {
            self.shared.streams_dropped.fetch_add(1, Ordering::SeqCst);
            self.shared.stream_dropped.notify_waiters();
        }
    }
}

async fn messages(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let rec = record(&shared, request).await;
    if !authorized(&shared, &rec) {
        return error(
            StatusCode::UNAUTHORIZED,
            "authentication_error",
            "invalid bearer token",
        );
    }
    let parsed: Value = serde_json::from_slice(&rec.body).unwrap_or(Value::Null);
    let model = parsed["model"]
        .as_str()
        .unwrap_or("claude-sonnet-4-20250514")
        .to_string();
    let streaming = parsed["stream"].as_bool().unwrap_or(false);
    let text_len = shared.reply_text_len.load(Ordering::Relaxed) as usize;
    let deltas = shared.stream_deltas.load(Ordering::Relaxed);
    let scenario = rec.header("x-mock");
    match scenario.as_str() {
        "error-429" => error(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limit_error",
            "slow down",
        ),
        "error-500" => error(StatusCode::INTERNAL_SERVER_ERROR, "api_error", "boom"),
        "stream-break" => {
            let events = stream_events(&model, 1, 4);
            let stream = futures_util::stream::unfold(0usize, move |i| {
                let events = events.clone();
                async move {
                    match i {
                        0 | 1 => Some((Ok(events[i].clone()), i + 1)),
                        2 => {
                            // Let the first events leave before the cut, as a real network would.
                            tokio::time::sleep(Duration::from_millis(100)).await;
                            Some((Err(std::io::Error::other("mock: connection cut")), 3))
                        }
                        _ => None,
                    }
                }
            });
            sse_response(Body::from_stream(stream))
        }
        "gated" => {
            let events = stream_events(&model, deltas, text_len / deltas as usize);
            let shared = shared.clone();
            let stream = futures_util::stream::unfold(0usize, move |i| {
                let events = events.clone();
                let shared = shared.clone();
                async move {
                    if i == 1 {
                        shared.gate.notified().await;
                    }
                    events
                        .get(i)
                        .map(|e| (Ok::<_, std::io::Error>(e.clone()), i + 1))
                }
            });
            sse_response(Body::from_stream(stream))
        }
        "slow" => {
            let guard = DropGuard {
                shared: shared.clone(),
                finished: false,
            };
            let events = stream_events(&model, 3000, 4);
            let stream = futures_util::stream::unfold((0usize, guard), move |(i, mut guard)| {
                let events = events.clone();
                async move {
                    if i > 0 {
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                    match events.get(i) {
                        Some(e) => Some((Ok::<_, std::io::Error>(e.clone()), (i + 1, guard))),
                        None => {
                            guard.finish();
                            None
                        }
                    }
                }
            });
            sse_response(Body::from_stream(stream))
        }
        _ if streaming => {
            let events = stream_events(&model, deltas, text_len / deltas as usize);
            let stream =
                futures_util::stream::iter(events.into_iter().map(Ok::<_, std::io::Error>));
            sse_response(Body::from_stream(stream))
        }
        _ => {
            let mut r = (
                [("content-type", "application/json")],
                message_json(&model, &"x".repeat(text_len)).to_string(),
            )
                .into_response();
            quota_headers(&mut r);
            r
        }
    }
}

async fn count_tokens(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let rec = record(&shared, request).await;
    if !authorized(&shared, &rec) {
        return error(
            StatusCode::UNAUTHORIZED,
            "authentication_error",
            "invalid bearer token",
        );
    }
    (
        [("content-type", "application/json")],
        json!({"input_tokens": 42}).to_string(),
    )
        .into_response()
}

async fn models(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    record(&shared, request).await;
    (
        [("content-type", "application/json")],
        json!({"data":[],"has_more":false}).to_string(),
    )
        .into_response()
}

async fn token(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let rec = record(&shared, request).await;
    shared.token_calls.fetch_add(1, Ordering::SeqCst);
    let delay = shared.token_delay_ms.load(Ordering::Relaxed);
    if delay > 0 {
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }
    let body: Value = serde_json::from_slice(&rec.body).unwrap_or(Value::Null);
    if body["grant_type"] != "refresh_token" {
        return (
            StatusCode::BAD_REQUEST,
            json!({"error":"unsupported_grant_type"}).to_string(),
        )
            .into_response();
    }
    let given = body["refresh_token"].as_str().unwrap_or("");
    let mut refresh = shared.refresh_token.lock().expect("lock");
    if refresh.as_deref() != Some(given) || given.is_empty() {
        return (
            StatusCode::BAD_REQUEST,
            [("content-type", "application/json")],
            json!({"error":"invalid_grant","error_description":"Invalid refresh token"})
                .to_string(),
        )
            .into_response();
    }
    let n = shared.rotation.fetch_add(1, Ordering::SeqCst) + 1;
    let access = format!("access-rotated-{n}");
    let new_refresh = format!("refresh-rotated-{n}");
    *refresh = Some(new_refresh.clone());
    *shared.access_token.lock().expect("lock") = Some(access.clone());
    (
        [("content-type", "application/json")],
        json!({
            "token_type": "Bearer",
            "access_token": access,
            "refresh_token": new_refresh,
            "expires_in": 28800,
            "scope": "user:inference user:profile",
            "account": {"uuid": "acc-1", "email_address": "user@example.com"},
            "organization": {"uuid": "org-1"}
        })
        .to_string(),
    )
        .into_response()
}
