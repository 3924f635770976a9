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
//! | `hang`          | no answer (not even headers) until [`Mock::open_gate`], then a message   |
//! | `slow`          | SSE: an event every 20 ms for a minute; counts dropped streams            |
//! | `tools`         | text, then two parallel `weather` tool calls (JSON or SSE)               |
//! | `thinking`      | a thinking block, then text (JSON or SSE)                                |
//!
//! Clients that cannot send a header (the `claude` CLI driven by Claude Code mode) choose by a
//! word in the conversation instead: `MOCK_TOOL_USE` asks for the `Bash` tool (`echo hi`) and,
//! once the request carries the tool's result, answers `The tool returned: <result>`;
//! `MOCK_ERROR_429` answers a final 429 (`x-should-retry: false`).
//!
//! When [`Mock::require_token`] is set, `/v1/*` answers 401 unless the bearer token matches;
//! after [`Mock::reject_all_tokens`] it answers 401 to every token.
//! OAuth: `GET /oauth/authorize` approves at once (redirect with a one-time code, or with
//! `error=` after [`Mock::set_authorize_error`]); `POST /v1/oauth/token` implements the
//! authorization-code grant (PKCE S256 checked, codes single-use) and the refresh grant with
//! rotating refresh tokens, and can fail or hang on demand; `GET /api/oauth/profile` and
//! `POST /v1/oauth/token/revoke` complete the set.

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
    let mut scenario = rec.header("x-mock");
    if scenario.is_empty() {
        let has = |word: &[u8]| rec.body.windows(word.len()).any(|w| w == word);
        if has(b"MOCK_ERROR_429") {
            let mut r = error(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limit_error",
                "Number of request tokens has exceeded your rate limit",
            );
            r.headers_mut()
                .insert("x-should-retry", "false".parse().expect("header"));
            return r;
        }
        if has(b"MOCK_TOOL_USE") {
            scenario = "cli-tool".into();
        }
    }
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
        "hang" => {
            shared.gate.notified().await;
            (
                [("content-type", "application/json")],
                message_json(&model, "late").to_string(),
            )
                .into_response()
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
        "tools" | "thinking" | "cli-tool" => {
            let message = if scenario == "cli-tool" {
                cli_tool_message(&model, &parsed)
            } else {
                scripted_message(&model, &scenario)
            };
            if streaming {
                let events = events_for(&message);
                let stream =
                    futures_util::stream::iter(events.into_iter().map(Ok::<_, std::io::Error>));
                sse_response(Body::from_stream(stream))
            } else {
                let mut r =
                    ([("content-type", "application/json")], message.to_string()).into_response();
                quota_headers(&mut r);
                r
            }
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
    if shared.token_hang.load(Ordering::SeqCst) {
        std::future::pending::<()>().await;
    }
    let failure = *shared.token_failure.lock().expect("lock");
    if let Some(status) = failure {
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        return (
            status,
            json!({"error":"server_error","error_description":"mock failure"}).to_string(),
        )
            .into_response();
    }
    let body: Value = serde_json::from_slice(&rec.body).unwrap_or(Value::Null);
    if body["grant_type"] == "authorization_code" {
        return exchange_code(&shared, &body);
    }
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

const CLIENT_ID: &str = "9d1c250a-e61b-44d9-88ed-5944d1962f5e";

fn invalid_grant(why: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        [("content-type", "application/json")],
        json!({"error":"invalid_grant","error_description":why}).to_string(),
    )
        .into_response()
}

/// The authorize page, approving at once: redirects to `redirect_uri` with a one-time code.
async fn authorize(
    State(shared): State<Arc<Shared>>,
    axum::extract::Query(q): axum::extract::Query<std::collections::HashMap<String, String>>,
) -> Response {
    let get = |k: &str| q.get(k).cloned().unwrap_or_default();
    if get("client_id") != CLIENT_ID
        || get("response_type") != "code"
        || get("code_challenge_method") != "S256"
        || get("code_challenge").is_empty()
        || get("redirect_uri").is_empty()
        || get("code") != "true"
    {
        return (StatusCode::BAD_REQUEST, "bad authorize request").into_response();
    }
    let redirect = get("redirect_uri");
    let state = get("state");
    let sep = if redirect.contains('?') { '&' } else { '?' };
    let location = match shared.authorize_error.lock().expect("lock").clone() {
        Some(error) => {
            format!("{redirect}{sep}error={error}&error_description=The+user+said+no&state={state}")
        }
        None => {
            let n = shared.code_counter.fetch_add(1, Ordering::SeqCst) + 1;
            let code = format!("code-{n}");
            shared.codes.lock().expect("lock").insert(
                code.clone(),
                (get("code_challenge"), redirect.clone(), get("scope")),
            );
            format!("{redirect}{sep}code={code}&state={state}")
        }
    };
    (StatusCode::FOUND, [("location", location)]).into_response()
}

fn exchange_code(shared: &Shared, body: &Value) -> Response {
    use base64::Engine;
    use sha2::Digest;
    let code = body["code"].as_str().unwrap_or("");
    // One use only: the code is gone after this, whatever the outcome.
    let Some((challenge, redirect, scope)) = shared.codes.lock().expect("lock").remove(code) else {
        return invalid_grant("unknown or used code");
    };
    let verifier = body["code_verifier"].as_str().unwrap_or("");
    let computed = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(sha2::Sha256::digest(verifier.as_bytes()));
    if computed != challenge {
        return invalid_grant("PKCE verification failed");
    }
    if body["redirect_uri"].as_str() != Some(redirect.as_str()) || body["client_id"] != CLIENT_ID {
        return invalid_grant("redirect_uri or client_id mismatch");
    }
    if body["state"].as_str().is_none_or(str::is_empty) {
        return invalid_grant("missing state");
    }
    let n = shared.rotation.fetch_add(1, Ordering::SeqCst) + 1;
    let access = format!("access-login-{n}");
    let refresh = format!("refresh-login-{n}");
    *shared.refresh_token.lock().expect("lock") = Some(refresh.clone());
    (
        [("content-type", "application/json")],
        json!({
            "token_type": "Bearer",
            "access_token": access,
            "refresh_token": refresh,
            "expires_in": 28800,
            "scope": scope,
            "account": {"uuid": "acc-1", "email_address": "user@example.com"},
            "organization": {"uuid": "org-1"}
        })
        .to_string(),
    )
        .into_response()
}

async fn profile(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let rec = record(&shared, request).await;
    if !rec.header("authorization").starts_with("Bearer access-") {
        return error(
            StatusCode::UNAUTHORIZED,
            "authentication_error",
            "invalid bearer token",
        );
    }
    (
        [("content-type", "application/json")],
        json!({
            "account": {"uuid": "acc-1", "email": "user@example.com", "display_name": "User", "has_claude_max": true},
            "organization": {"uuid": "org-1", "name": "Personal", "organization_type": "claude_max"}
        })
        .to_string(),
    )
        .into_response()
}

async fn revoke(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let rec = record(&shared, request).await;
    let body: Value = serde_json::from_slice(&rec.body).unwrap_or(Value::Null);
    if let Some(token) = body["token"].as_str() {
        shared.revoked.lock().expect("lock").push(token.to_string());
    }
    ([("content-type", "application/json")], "{}").into_response()
}

/// `MOCK_TOOL_USE`: ask for `Bash` (`echo hi`), or report the tool's result once it is there.
fn cli_tool_message(model: &str, request: &Value) -> Value {
    let last = request["messages"]
        .as_array()
        .and_then(|m| m.last())
        .cloned()
        .unwrap_or(Value::Null);
    let result = last["content"].as_array().and_then(|blocks| {
        blocks
            .iter()
            .find(|b| b["type"] == "tool_result")
            .map(|b| match &b["content"] {
                Value::String(s) => s.clone(),
                Value::Array(parts) => parts
                    .iter()
                    .filter_map(|p| p["text"].as_str())
                    .collect::<Vec<_>>()
                    .join(""),
                _ => String::new(),
            })
    });
    let (content, stop) = match result {
        Some(out) => (
            json!([{"type": "text", "text": format!("The tool returned: {}", out.trim())}]),
            "end_turn",
        ),
        None => (
            json!([
                {"type": "text", "text": "I'll run that command."},
                {"type": "tool_use", "id": "toolu_mock_cli", "name": "Bash", "input": {"command": "echo hi", "description": "Print hi"}}
            ]),
            "tool_use",
        ),
    };
    json!({
        "id": "msg_mock_cli", "type": "message", "role": "assistant", "model": model,
        "content": content, "stop_reason": stop, "stop_sequence": null,
        "usage": {"input_tokens": 30, "cache_read_input_tokens": 0, "cache_creation_input_tokens": 0, "output_tokens": 12}
    })
}

/// The whole message of a scripted scenario.
fn scripted_message(model: &str, scenario: &str) -> Value {
    let (content, stop) = match scenario {
        "tools" => (
            json!([
                {"type": "text", "text": "I'll check both cities."},
                {"type": "tool_use", "id": "toolu_01", "name": "weather", "input": {"city": "Paris"}},
                {"type": "tool_use", "id": "toolu_02", "name": "weather", "input": {"city": "Oslo", "units": "celsius"}}
            ]),
            "tool_use",
        ),
        _ => (
            json!([
                {"type": "thinking", "thinking": "The user wants a greeting.", "signature": "c2ln"},
                {"type": "text", "text": "Hello!"}
            ]),
            "end_turn",
        ),
    };
    json!({
        "id": "msg_mock_2", "type": "message", "role": "assistant", "model": model,
        "content": content, "stop_reason": stop, "stop_sequence": null,
        "usage": {"input_tokens": 20, "cache_read_input_tokens": 4, "cache_creation_input_tokens": 0, "output_tokens": 15}
    })
}

/// The SSE events that stream `message`, deltas cut in pieces of 5 characters.
fn events_for(message: &Value) -> Vec<Bytes> {
    let mut out = Vec::new();
    let mut start = message.clone();
    start["content"] = json!([]);
    start["stop_reason"] = Value::Null;
    start["usage"]["output_tokens"] = json!(1);
    out.push(sse(
        "message_start",
        &json!({"type": "message_start", "message": start}),
    ));
    let pieces = |s: &str| -> Vec<String> {
        let chars: Vec<char> = s.chars().collect();
        chars.chunks(5).map(|c| c.iter().collect()).collect()
    };
    let blocks = message["content"].as_array().cloned().unwrap_or_default();
    for (i, block) in blocks.iter().enumerate() {
        let (start_block, deltas): (Value, Vec<Value>) = match block["type"].as_str() {
            Some("text") => (
                json!({"type": "text", "text": ""}),
                pieces(block["text"].as_str().unwrap_or(""))
                    .into_iter()
                    .map(|p| json!({"type": "text_delta", "text": p}))
                    .collect(),
            ),
            Some("thinking") => (
                json!({"type": "thinking", "thinking": ""}),
                pieces(block["thinking"].as_str().unwrap_or(""))
                    .into_iter()
                    .map(|p| json!({"type": "thinking_delta", "thinking": p}))
                    .collect(),
            ),
            _ => (
                json!({"type": "tool_use", "id": block["id"], "name": block["name"], "input": {}}),
                pieces(&block["input"].to_string())
                    .into_iter()
                    .map(|p| json!({"type": "input_json_delta", "partial_json": p}))
                    .collect(),
            ),
        };
        out.push(sse(
            "content_block_start",
            &json!({"type": "content_block_start", "index": i, "content_block": start_block}),
        ));
        for d in deltas {
            out.push(sse(
                "content_block_delta",
                &json!({"type": "content_block_delta", "index": i, "delta": d}),
            ));
        }
        out.push(sse(
            "content_block_stop",
            &json!({"type": "content_block_stop", "index": i}),
        ));
    }
    out.push(sse("message_delta", &json!({"type": "message_delta", "delta": {"stop_reason": message["stop_reason"], "stop_sequence": null}, "usage": {"output_tokens": message["usage"]["output_tokens"]}})));
    out.push(sse("message_stop", &json!({"type": "message_stop"})));
    out
}
