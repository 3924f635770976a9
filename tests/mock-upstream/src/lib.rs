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
//! | `garbage-event` | SSE: the whole stream, with one event whose data is not JSON            |
//! | `stream-break`  | SSE: two events, then the connection is cut mid-stream                    |
//! | `gated`         | SSE: first event, then waits for [`Mock::open_gate`] before the rest      |
//! | `hang`          | no answer (not even headers) until [`Mock::open_gate`], then a message   |
//! | `slow`          | SSE: an event every 20 ms for a minute; counts dropped streams            |
//! | `tools`         | text, then two parallel `weather` tool calls (JSON or SSE)               |
//! | `thinking`      | a thinking block, then text (JSON or SSE)                                |
//! | `quota-extra-usage` | a message whose quota reading says it was billed to extra usage   |
//! | `error-third-party` | 400 "Third-party apps now draw from your extra usage, not your plan limits" |
//! | `error-long-context` | 429 "Extra usage is required for long context requests"             |
//! | `error-out-of-extra-usage` | 400 "You're out of extra usage"                               |
//! | `error-version-floor` | 400 `claude_code_version_too_old` (Claude Code 2.1.0; 9.9.9 needed) |
//!
//! Clients that cannot send a header (the `claude` CLI driven by Claude Code mode) choose by a
//! word in the conversation instead: `MOCK_TOOL_USE` asks for the `Bash` tool (`echo hi`),
//! `MOCK_WRITE_FILE=<path>` for the `Write` tool (that file), and, once the request carries the
//! tool's result, answers `The tool returned: <result>`;
//! `MOCK_ERROR_429` answers a final 429 (`x-should-retry: false`); `MOCK_HANG` as `hang`; `MOCK_VERSION_FLOOR` and
//! `MOCK_THIRD_PARTY` answer as `error-version-floor` and `error-third-party`.
//!
//! Every `/v1/messages` answer carries a quota reading (`anthropic-ratelimit-unified-*`), a plan
//! one unless [`Mock::set_quota`] chose another (extra usage in use, a used-up window, values
//! not known today …).
//!
//! When [`Mock::require_token`] is set, `/v1/*` answers 401 unless the bearer token matches;
//! after [`Mock::reject_all_tokens`] it answers 401 to every token.
//! OAuth: `GET /oauth/authorize` approves at once (redirect with a one-time code, or with
//! `error=` after [`Mock::set_authorize_error`]); `POST /v1/oauth/token` implements the
//! authorization-code grant (PKCE S256 checked, codes single-use) and the refresh grant with
//! rotating refresh tokens, and can fail or hang on demand; `GET /api/oauth/profile` and
//! `POST /v1/oauth/token/revoke` complete the set.
// Test infrastructure: it reads its scenario from the environment and runs its tasks for
// the life of the process.
#![allow(clippy::disallowed_methods)]

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

mod api;
mod oauth;

use api::{count_tokens, messages, models};
use oauth::{authorize, profile, revoke, token};

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
    /// Authorization codes issued by `/oauth/authorize`: code → (challenge, redirect_uri, scope).
    codes: Mutex<std::collections::HashMap<String, (String, String, String)>>,
    code_counter: AtomicU64,
    /// When set, `/oauth/authorize` redirects with this `error`.
    authorize_error: Mutex<Option<String>>,
    /// When set, the token endpoint answers this status.
    token_failure: Mutex<Option<u16>>,
    /// When set, the token endpoint never answers.
    token_hang: AtomicBool,
    revoked: Mutex<Vec<String>>,
    /// Size of the text in non-streaming replies, and number of deltas in streams.
    reply_text_len: AtomicU64,
    stream_deltas: AtomicU64,
    /// The `anthropic-ratelimit-unified-*` headers (names without the prefix) of every
    /// `/v1/messages` answer, errors included; `None`: the default reading.
    quota: Mutex<Option<Vec<(String, String)>>>,
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
            .route("/v1/oauth/token/revoke", post(revoke))
            .route("/oauth/authorize", get(authorize))
            .route("/api/oauth/profile", get(profile))
            .fallback(api::other)
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

    /// Makes the authorize page refuse (redirect with `error=<error>`), or approve again (`None`).
    pub fn set_authorize_error(&self, error: Option<&str>) {
        *self.shared.authorize_error.lock().expect("lock") = error.map(String::from);
    }

    /// Makes the token endpoint answer `status` with an error body, or work again (`None`).
    pub fn set_token_failure(&self, status: Option<u16>) {
        *self.shared.token_failure.lock().expect("lock") = status;
    }

    /// Makes the token endpoint hang without answering.
    pub fn set_token_hang(&self, hang: bool) {
        self.shared.token_hang.store(hang, Ordering::SeqCst);
    }

    /// Tokens revoked through `/v1/oauth/token/revoke`.
    pub fn revoked(&self) -> Vec<String> {
        self.shared.revoked.lock().expect("lock").clone()
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

    /// Sets the quota reading every `/v1/messages` answer carries from now on: pairs of a
    /// header name without `anthropic-ratelimit-unified-` (`status`, `5h-utilization`,
    /// `overage-in-use`, …) and its value. The default is a plan reading: `status: allowed`,
    /// `representative-claim: five_hour`, 25 % of the 5-hour and 50 % of the weekly window.
    pub fn set_quota(&self, pairs: &[(&str, &str)]) {
        *self.shared.quota.lock().unwrap() = Some(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        );
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
