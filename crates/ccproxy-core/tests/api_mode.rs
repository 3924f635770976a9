//! End-to-end tests of API mode through real sockets: client → ccproxy (127.0.0.1:0) → the mock
//! Anthropic upstream (127.0.0.1:0).

use ccproxy_core::config::Config;
use ccproxy_core::server::{self, ServerHandle, StartError};
use ccproxy_mock_upstream::Mock;
use serde_json::{json, Value};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const IDENTITY: &str = "You are Claude Code, Anthropic's official CLI for Claude.";

struct Harness {
    mock: Mock,
    server: ServerHandle,
    dir: tempfile::TempDir,
    http: reqwest::Client,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

fn write_credentials(path: &PathBuf, access: &str, refresh: &str, expires_at: u64) {
    std::fs::write(
        path,
        json!({
            "claudeAiOauth": {
                "accessToken": access,
                "refreshToken": refresh,
                "expiresAt": expires_at,
                "scopes": ["user:inference"],
                "subscriptionType": "max",
                "keepMe": "yes"
            },
            "otherTool": {"x": 1}
        })
        .to_string(),
    )
    .unwrap();
}

impl Harness {
    /// A proxy in front of a fresh mock, with a valid credentials file (`access-1`/`refresh-1`).
    async fn new() -> Self {
        Self::with(|_| {}).await
    }

    async fn with(edit: impl FnOnce(&mut Config)) -> Self {
        let mock = Mock::start().await;
        let dir = tempfile::tempdir().unwrap();
        let mut config = Config::default();
        config.server.port = 0;
        config.claude.api_base_url = mock.url();
        config.oauth.token_url = format!("{}/v1/oauth/token", mock.url());
        config.auth.credentials_file = Some(dir.path().join("credentials.json"));
        config.auth.claude_credentials_file = Some(dir.path().join("claude-credentials.json"));
        write_credentials(
            &dir.path().join("credentials.json"),
            "access-1",
            "refresh-1",
            now_ms() + 3_600_000,
        );
        edit(&mut config);
        config.validate().unwrap();
        let server = server::start(Arc::new(config)).await.unwrap();
        Self {
            mock,
            server,
            dir,
            http: reqwest::Client::new(),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.server.local_addr())
    }

    fn credentials_path(&self) -> PathBuf {
        self.dir.path().join("credentials.json")
    }

    fn post(&self, path: &str, body: impl Into<reqwest::Body>) -> reqwest::RequestBuilder {
        self.http
            .post(self.url(path))
            .header("content-type", "application/json")
            .body(body)
    }
}

fn body_json(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes).unwrap()
}

async fn expect_error(response: reqwest::Response, status: u16, kind: &str) -> String {
    assert_eq!(response.status().as_u16(), status);
    let v: Value = response.json().await.unwrap();
    assert_eq!(v["type"], "error", "{v}");
    assert_eq!(v["error"]["type"], kind, "{v}");
    v["error"]["message"].as_str().unwrap().to_string()
}

/// A request body the way Claude Code 2.1.19x+ sends it: identity present, thinking blocks in
/// history, `role:"system"` turns, unknown fields, odd whitespace.
const CLAUDE_CODE_BODY: &str = r#"{"model":"claude-sonnet-4-20250514","max_tokens":32000,
 "system":[{"type":"text","text":"x-anthropic-billing-header: cc_version=2.1.331"},{"type":"text","text":"You are Claude Code, Anthropic's official CLI for Claude.","cache_control":{"type":"ephemeral"}}],
 "messages":[{"role":"user","content":"hi"},{"role":"assistant","content":[{"type":"thinking","thinking":"hmm","signature":"c2ln"},{"type":"redacted_thinking","data":"ZGF0YQ=="},{"type":"text","text":"hello"}]},{"role":"system","content":"reminder"},{"role":"user","content":[{"type":"text","text":"go","cache_control":{"type":"ephemeral"}}]}],
 "thinking":{"type":"enabled","budget_tokens":1024},"context_management":{"edits":[{"type":"clear_tool_uses_20250919"}]},"output_config":{"effort":"high"},"metadata":{"user_id":"u"},"future_field":[1.0e3, null]}"#;

#[tokio::test]
async fn claude_code_request_arrives_byte_identical_with_oauth_headers() {
    let h = Harness::new().await;
    let response = h
        .post("/api/v1/messages?beta=true", CLAUDE_CODE_BODY)
        .header("x-api-key", "dummy")
        .header(
            "anthropic-beta",
            "interleaved-thinking-2025-05-14,oauth-2025-04-20",
        )
        .header("anthropic-version", "2099-01-01")
        .header("user-agent", "claude-cli/2.1.331")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["request-id"], "req_mock_1");
    let reply: Value = response.json().await.unwrap();
    assert_eq!(reply["type"], "message");

    let seen = h.mock.requests();
    assert_eq!(seen.len(), 1);
    let r = &seen[0];
    assert_eq!(r.uri, "/v1/messages?beta=true", "query string forwarded");
    assert_eq!(
        r.body.as_ref(),
        CLAUDE_CODE_BODY.as_bytes(),
        "body byte-identical"
    );
    assert_eq!(r.header("authorization"), "Bearer access-1");
    assert!(r.headers.get("x-api-key").is_none(), "client key removed");
    assert_eq!(
        r.header("anthropic-version"),
        "2099-01-01",
        "client version kept"
    );
    assert_eq!(
        r.header("anthropic-beta"),
        "interleaved-thinking-2025-05-14,oauth-2025-04-20,claude-code-20250219"
    );
    assert_eq!(r.header("user-agent"), "claude-cli/2.1.331");
}

#[tokio::test]
async fn identity_is_inserted_when_missing_and_nothing_else_changes() {
    let h = Harness::new().await;
    let body = r#"{"model":"claude-sonnet-4-20250514","system":"Be brief.","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}"#;
    let response = h
        .post("/api/v1/messages", body)
        .header("authorization", "Bearer dummy")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let r = &h.mock.requests()[0];
    let sent = std::str::from_utf8(&r.body).unwrap();
    assert!(
        sent.ends_with(r#","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}"#),
        "{sent}"
    );
    let v = body_json(&r.body);
    assert_eq!(v["system"][0]["text"], IDENTITY);
    assert_eq!(v["system"][1]["text"], "Be brief.");
    assert_eq!(r.header("authorization"), "Bearer access-1");
    assert_eq!(r.header("anthropic-version"), "2023-06-01");
    assert_eq!(
        r.header("anthropic-beta"),
        "claude-code-20250219,oauth-2025-04-20"
    );
}

#[tokio::test]
async fn count_tokens_is_forwarded_with_identity() {
    let h = Harness::new().await;
    let response = h
        .post(
            "/api/v1/messages/count_tokens",
            r#"{"model":"claude-sonnet-4-20250514","messages":[{"role":"user","content":"hi"}]}"#,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.json::<Value>().await.unwrap()["input_tokens"], 42);
    let r = &h.mock.requests()[0];
    assert_eq!(r.uri, "/v1/messages/count_tokens");
    assert_eq!(body_json(&r.body)["system"][0]["text"], IDENTITY);
}

#[tokio::test]
async fn upstream_errors_pass_through_with_headers() {
    let h = Harness::new().await;
    let response = h
        .post("/api/v1/messages", r#"{"model":"m","messages":[]}"#)
        .header("x-mock", "error-429")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 429);
    assert_eq!(response.headers()["retry-after"], "7");
    assert_eq!(response.headers()["x-should-retry"], "true");
    assert_eq!(response.headers()["request-id"], "req_mock_err");
    let v: Value = response.json().await.unwrap();
    assert_eq!(v["error"]["type"], "rate_limit_error");
    assert_eq!(v["error"]["message"], "slow down");
}

#[tokio::test]
async fn sse_events_reach_the_client_before_upstream_finishes() {
    let h = Harness::new().await;
    let mut response = h
        .post(
            "/api/v1/messages",
            r#"{"model":"m","stream":true,"messages":[]}"#,
        )
        .header("x-mock", "gated")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/event-stream"));
    assert_eq!(
        response.headers()["anthropic-ratelimit-unified-5h-utilization"],
        "0.25"
    );
    // The mock holds every event after the first until the gate opens; the first must arrive now.
    let first = tokio::time::timeout(Duration::from_secs(10), response.chunk())
        .await
        .expect("first event arrives while upstream is still streaming")
        .unwrap()
        .unwrap();
    assert!(first.starts_with(b"event: message_start\n"));
    h.mock.open_gate();
    let mut all = first.to_vec();
    while let Some(chunk) = response.chunk().await.unwrap() {
        all.extend_from_slice(&chunk);
    }
    let text = String::from_utf8(all).unwrap();
    assert!(text.ends_with("event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"));
    assert!(
        !text.contains("[DONE]"),
        "nothing appended to Anthropic streams"
    );
    assert_eq!(text.matches("event: ").count(), 14);
}

#[tokio::test]
async fn streamed_body_is_byte_exact() {
    let h = Harness::new().await;
    h.mock.set_reply_size(4000, 40);
    let via_proxy = h
        .post(
            "/api/v1/messages",
            r#"{"model":"m","stream":true,"messages":[]}"#,
        )
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let direct = h
        .http
        .post(format!("{}/v1/messages", h.mock.url()))
        .body(r#"{"model":"m","stream":true,"messages":[]}"#)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(via_proxy, direct);
}

#[tokio::test]
async fn a_broken_upstream_stream_ends_with_an_error_event() {
    let h = Harness::new().await;
    let response = h
        .post(
            "/api/v1/messages",
            r#"{"model":"m","stream":true,"messages":[]}"#,
        )
        .header("x-mock", "stream-break")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let text = response.text().await.unwrap();
    assert!(text.starts_with("event: message_start\n"), "{text}");
    assert!(
        text.ends_with("\n\nevent: error\ndata: {\"error\":{\"message\":\"the upstream stream ended unexpectedly\",\"type\":\"api_error\"},\"type\":\"error\"}\n\n"),
        "{text}"
    );
}

#[tokio::test]
async fn client_disconnect_mid_stream_closes_the_upstream_connection() {
    let h = Harness::new().await;
    let mut response = h
        .post(
            "/api/v1/messages",
            r#"{"model":"m","stream":true,"messages":[]}"#,
        )
        .header("x-mock", "slow")
        .send()
        .await
        .unwrap();
    let first = response.chunk().await.unwrap().unwrap();
    assert!(first.starts_with(b"event: message_start"));
    assert_eq!(h.mock.streams_dropped(), 0);
    drop(response);
    assert!(
        h.mock.wait_stream_dropped(Duration::from_secs(20)).await,
        "upstream stream was not closed after the client went away"
    );
}

#[tokio::test]
async fn twenty_concurrent_requests_with_an_expired_token_refresh_once() {
    let h = Harness::new().await;
    write_credentials(
        &h.credentials_path(),
        "access-old",
        "refresh-1",
        now_ms() - 1000,
    );
    h.mock.accept_refresh_token("refresh-1");
    h.mock.require_token("access-old");
    h.mock.set_token_delay(Duration::from_millis(200));

    let requests = (0..20).map(|_| {
        h.post("/api/v1/messages", r#"{"model":"m","messages":[]}"#)
            .send()
    });
    let responses = futures_util::future::join_all(requests).await;
    for r in responses {
        assert_eq!(r.unwrap().status(), 200);
    }
    assert_eq!(h.mock.token_calls(), 1, "exactly one refresh");
    let refresh = &h
        .mock
        .requests()
        .into_iter()
        .find(|r| r.uri == "/v1/oauth/token")
        .unwrap();
    let grant = body_json(&refresh.body);
    assert_eq!(grant["grant_type"], "refresh_token");
    assert_eq!(grant["refresh_token"], "refresh-1");
    assert_eq!(grant["client_id"], "9d1c250a-e61b-44d9-88ed-5944d1962f5e");
    assert!(grant["scope"].as_str().unwrap().contains("user:inference"));
    for r in h.mock.requests().iter().filter(|r| r.uri == "/v1/messages") {
        assert_eq!(r.header("authorization"), "Bearer access-rotated-1");
    }

    // The rotation is saved atomically, mode 0600, other keys kept.
    let saved = body_json(&std::fs::read(h.credentials_path()).unwrap());
    assert_eq!(saved["claudeAiOauth"]["accessToken"], "access-rotated-1");
    assert_eq!(saved["claudeAiOauth"]["refreshToken"], "refresh-rotated-1");
    assert!(saved["claudeAiOauth"]["expiresAt"].as_u64().unwrap() > now_ms() + 3_600_000);
    assert_eq!(saved["claudeAiOauth"]["keepMe"], "yes");
    assert_eq!(saved["claudeAiOauth"]["subscriptionType"], "max");
    assert_eq!(saved["otherTool"]["x"], 1);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(h.credentials_path())
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let files: Vec<_> = std::fs::read_dir(h.dir.path()).unwrap().collect();
    assert_eq!(files.len(), 1, "no temporary or backup files left");
}

#[tokio::test]
async fn a_401_from_upstream_refreshes_once_and_retries() {
    let h = Harness::new().await;
    // The file's token looks valid, but upstream has revoked it.
    h.mock.require_token("something-else");
    h.mock.accept_refresh_token("refresh-1");
    let response = h
        .post("/api/v1/messages", r#"{"model":"m","messages":[]}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(h.mock.token_calls(), 1);
    let calls: Vec<_> = h
        .mock
        .requests()
        .into_iter()
        .filter(|r| r.uri == "/v1/messages")
        .map(|r| r.header("authorization"))
        .collect();
    assert_eq!(calls, ["Bearer access-1", "Bearer access-rotated-1"]);
}

#[tokio::test]
async fn a_401_that_persists_after_refresh_is_passed_through_without_looping() {
    let h = Harness::new().await;
    h.mock.reject_all_tokens();
    h.mock.accept_refresh_token("refresh-1");
    let r = h
        .post("/api/v1/messages", r#"{"model":"m","messages":[]}"#)
        .send()
        .await
        .unwrap();
    let message = expect_error(r, 401, "authentication_error").await;
    assert_eq!(
        message, "invalid bearer token",
        "upstream's own 401 is passed through"
    );
    assert_eq!(h.mock.token_calls(), 1, "one refresh, never a loop");
    let sent: Vec<_> = h
        .mock
        .requests()
        .into_iter()
        .filter(|r| r.uri == "/v1/messages")
        .map(|r| r.header("authorization"))
        .collect();
    assert_eq!(
        sent,
        ["Bearer access-1", "Bearer access-rotated-1"],
        "one retry only"
    );
}

#[tokio::test]
async fn invalid_grant_fails_clearly_and_never_loops() {
    let h = Harness::new().await;
    write_credentials(
        &h.credentials_path(),
        "access-old",
        "refresh-dead",
        now_ms() - 1000,
    );
    h.mock.accept_refresh_token("something-else");
    for _ in 0..3 {
        let response = h
            .post("/api/v1/messages", r#"{"model":"m","messages":[]}"#)
            .send()
            .await
            .unwrap();
        let message = expect_error(response, 401, "authentication_error").await;
        assert!(message.contains("ccproxy auth login"), "{message}");
    }
    assert_eq!(h.mock.token_calls(), 1, "a dead refresh token is sent once");
    let status: Value = h
        .http
        .get(h.url("/api/status"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(status["credentials"]["state"], "login_expired");
    assert_eq!(status["credentials"]["can_refresh"], false);

    // A new login (a changed file) is picked up on the next request.
    write_credentials(
        &h.credentials_path(),
        "access-new",
        "refresh-new",
        now_ms() + 3_600_000,
    );
    let response = h
        .post("/api/v1/messages", r#"{"model":"m","messages":[]}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let last = h.mock.requests().pop().unwrap();
    assert_eq!(last.header("authorization"), "Bearer access-new");
}

#[tokio::test]
async fn credential_file_edits_are_seen_on_the_next_request() {
    let h = Harness::new().await;
    for token in ["access-a", "access-bb", "access-c"] {
        write_credentials(&h.credentials_path(), token, "r", now_ms() + 3_600_000);
        let r = h
            .post("/api/v1/messages", r#"{"model":"m","messages":[]}"#)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(
            h.mock.requests().pop().unwrap().header("authorization"),
            format!("Bearer {token}")
        );
    }
}

#[tokio::test]
async fn claude_code_file_then_environment_token_are_used_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let claude_file = dir.path().join("claude.json");
    write_credentials(&claude_file, "access-claude", "r", now_ms() + 3_600_000);
    let cf = claude_file.clone();
    let missing = dir.path().join("missing.json");
    let h = Harness::with(move |c| {
        c.auth.credentials_file = Some(missing);
        c.auth.claude_credentials_file = Some(cf);
        c.auth.oauth_token = Some("access-env".into());
    })
    .await;
    h.post("/api/v1/messages", "{}").send().await.unwrap();
    assert_eq!(
        h.mock.requests().pop().unwrap().header("authorization"),
        "Bearer access-claude"
    );
    let status: Value = h
        .http
        .get(h.url("/api/status"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(status["credentials"]["source"], "claude_code");

    std::fs::remove_file(&claude_file).unwrap();
    h.post("/api/v1/messages", "{}").send().await.unwrap();
    assert_eq!(
        h.mock.requests().pop().unwrap().header("authorization"),
        "Bearer access-env"
    );
    let status: Value = h
        .http
        .get(h.url("/api/status"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(status["credentials"]["source"], "environment");
}

#[tokio::test]
async fn no_credentials_is_a_clear_401_and_the_server_still_runs() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a.json"), dir.path().join("b.json"));
    let h = Harness::with(move |c| {
        c.auth.credentials_file = Some(a);
        c.auth.claude_credentials_file = Some(b);
    })
    .await;
    let health = h.http.get(h.url("/health")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    let response = h.post("/api/v1/messages", "{}").send().await.unwrap();
    let message = expect_error(response, 401, "authentication_error").await;
    assert!(message.contains("ccproxy auth login"), "{message}");
    assert!(h.mock.requests().is_empty());
    let status: Value = h
        .http
        .get(h.url("/api/status"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(status["credentials"]["state"], "missing");
}

#[tokio::test]
async fn status_reports_credentials_upstream_and_version() {
    let h = Harness::new().await;
    let status: Value = h
        .http
        .get(h.url("/api/status"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(status["mode"], "api");
    assert_eq!(status["upstream"], h.mock.url());
    assert_eq!(status["version"], env!("CARGO_PKG_VERSION"));
    let creds = &status["credentials"];
    assert_eq!(creds["state"], "valid");
    assert_eq!(creds["source"], "ccproxy");
    assert_eq!(creds["subscription_type"], "max");
    assert_eq!(creds["can_refresh"], true);
    let left = creds["expires_in_secs"].as_i64().unwrap();
    assert!((3500..=3600).contains(&left), "{left}");
    assert!(creds["expires_at"].as_str().unwrap().ends_with('Z'));
    let text = status.to_string();
    assert!(
        !text.contains("access-1") && !text.contains("refresh-1"),
        "no secrets in status"
    );
}

#[tokio::test]
async fn models_are_listed_in_a_shape_both_sdks_read() {
    let h = Harness::new().await;
    for path in ["/api/v1/models", "/api/models"] {
        let v: Value = h
            .http
            .get(h.url(path))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(v["object"], "list");
        assert_eq!(v["has_more"], false);
        let ids: Vec<_> = v["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["id"].as_str().unwrap())
            .collect();
        for required in [
            "claude-opus-4-20250514",
            "claude-sonnet-4-20250514",
            "claude-3-7-sonnet-20250219",
            "claude-3-5-sonnet-20241022",
            "claude-3-5-sonnet-20240620",
        ] {
            assert!(ids.contains(&required), "{required}");
        }
        let m = &v["data"][3];
        assert_eq!(m["object"], "model");
        assert_eq!(m["type"], "model");
        assert_eq!(m["owned_by"], "anthropic");
        assert_eq!(m["display_name"], "Claude Sonnet 4");
        assert_eq!(m["created_at"], "2025-05-14T00:00:00Z");
        assert_eq!(v["first_id"], v["data"][0]["id"]);
    }
}

#[tokio::test]
async fn client_token_is_required_when_configured() {
    let h = Harness::with(|c| c.security.auth_token = Some("local-token-123".into())).await;
    let msg = || h.post("/api/v1/messages", r#"{"model":"m","messages":[]}"#);

    let m = expect_error(msg().send().await.unwrap(), 401, "authentication_error").await;
    assert!(m.contains("x-api-key"), "{m}");
    expect_error(
        msg().header("x-api-key", "wrong").send().await.unwrap(),
        401,
        "authentication_error",
    )
    .await;
    assert_eq!(
        msg()
            .header("x-api-key", "local-token-123")
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        msg()
            .bearer_auth("local-token-123")
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    // x-api-key takes precedence over a correct bearer token.
    let r = msg()
        .header("x-api-key", "wrong")
        .bearer_auth("local-token-123")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    // The local token never reaches upstream.
    for r in h.mock.requests() {
        assert_eq!(r.header("authorization"), "Bearer access-1");
        assert!(r.headers.get("x-api-key").is_none());
    }
    // Health is open; everything else is protected.
    assert_eq!(
        h.http.get(h.url("/health")).send().await.unwrap().status(),
        200
    );
    for path in ["/api/status", "/api/v1/models", "/api/models", "/nope"] {
        assert_eq!(
            h.http.get(h.url(path)).send().await.unwrap().status(),
            401,
            "{path}"
        );
    }
    // OpenAI-style paths answer in OpenAI's error shape.
    let r = h
        .post("/api/v1/chat/completions", "{}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], "invalid_api_key");
    assert!(v.get("type").is_none());
}

#[tokio::test]
async fn foreign_host_headers_are_refused() {
    let h = Harness::new().await;
    let r = h
        .http
        .get(h.url("/api/status"))
        .header("host", "attacker.example:8000")
        .send()
        .await
        .unwrap();
    expect_error(r, 403, "permission_error").await;
    for host in ["localhost:8000", "127.0.0.1", "[::1]:8000"] {
        let r = h
            .http
            .get(h.url("/api/status"))
            .header("host", host)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{host}");
    }
    assert!(h.mock.requests().is_empty());
}

#[tokio::test]
async fn configured_hosts_are_accepted() {
    let h = Harness::with(|c| c.server.allowed_hosts = vec!["proxy.lan".into()]).await;
    let r = h
        .http
        .get(h.url("/health"))
        .header("host", "proxy.lan:8000")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn cors_allows_only_matching_origins() {
    let h = Harness::with(|c| c.security.auth_token = Some("local-token-123".into())).await;
    let preflight = |origin: &'static str| {
        h.http
            .request(reqwest::Method::OPTIONS, h.url("/api/v1/messages"))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "x-api-key,content-type")
            .send()
    };
    let ok = preflight("http://localhost:5173").await.unwrap();
    assert!(ok.status().is_success());
    assert_eq!(
        ok.headers()["access-control-allow-origin"],
        "http://localhost:5173"
    );
    assert!(ok.headers()["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .contains("x-api-key"));
    for bad in [
        "http://evil.com",
        "http://localhost.evil.com",
        "https://localhost.evil.com:443",
    ] {
        let r = preflight(bad).await.unwrap();
        assert!(
            r.headers().get("access-control-allow-origin").is_none(),
            "{bad}"
        );
    }
    let actual = h
        .http
        .get(h.url("/health"))
        .header("origin", "http://127.0.0.1:3000")
        .send()
        .await
        .unwrap();
    assert_eq!(
        actual.headers()["access-control-allow-origin"],
        "http://127.0.0.1:3000"
    );
}

#[tokio::test]
async fn bodies_over_the_limit_get_413_and_nothing_is_sent() {
    let h = Harness::with(|c| c.server.max_body_bytes = 1024).await;
    let big = format!(
        r#"{{"model":"m","messages":[],"pad":"{}"}}"#,
        "x".repeat(4096)
    );
    let r = h
        .post("/api/v1/messages", big.clone())
        .send()
        .await
        .unwrap();
    expect_error(r, 413, "request_too_large").await;
    // Also when streamed without a content-length.
    let chunks = futures_util::stream::iter(
        big.into_bytes()
            .chunks(100)
            .map(|c| Ok::<_, std::io::Error>(c.to_vec()))
            .collect::<Vec<_>>(),
    );
    let r = h
        .post("/api/v1/messages", reqwest::Body::wrap_stream(chunks))
        .send()
        .await
        .unwrap();
    expect_error(r, 413, "request_too_large").await;
    assert!(h.mock.requests().is_empty());
}

#[tokio::test]
async fn malformed_bodies_get_400_in_anthropic_shape() {
    let h = Harness::new().await;
    for body in ["not json", "[1,2]", "{\"model\":", ""] {
        let r = h.post("/api/v1/messages", body).send().await.unwrap();
        let m = expect_error(r, 400, "invalid_request_error").await;
        assert!(m.contains("JSON"), "{m}");
    }
    assert!(h.mock.requests().is_empty());
}

#[tokio::test]
async fn unknown_routes_and_methods_answer_in_the_api_shape() {
    let h = Harness::new().await;
    expect_error(
        h.http.get(h.url("/api/v1/nope")).send().await.unwrap(),
        404,
        "not_found_error",
    )
    .await;
    let r = h.http.get(h.url("/api/v1/messages")).send().await.unwrap();
    assert_eq!(r.status(), 405);
}

#[tokio::test]
async fn an_unreachable_upstream_is_a_502() {
    // A port that was just free: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let h =
        Harness::with(move |c| c.claude.api_base_url = format!("http://127.0.0.1:{port}")).await;
    let r = h.post("/api/v1/messages", "{}").send().await.unwrap();
    let m = expect_error(r, 502, "api_error").await;
    assert!(m.contains("upstream"), "{m}");
}

#[tokio::test]
async fn shutdown_lets_an_in_flight_stream_finish() {
    let h = Harness::new().await;
    let mut response = h
        .post(
            "/api/v1/messages",
            r#"{"model":"m","stream":true,"messages":[]}"#,
        )
        .header("x-mock", "gated")
        .send()
        .await
        .unwrap();
    let first = response.chunk().await.unwrap().unwrap();
    let Harness {
        mock, server, http, ..
    } = h;
    let addr = server.local_addr();
    let stopping = tokio::spawn(server.shutdown());
    // New connections are refused once shutdown begins; wait for that instead of sleeping.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while http
        .get(format!("http://{addr}/health"))
        .send()
        .await
        .is_ok()
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "still accepting after shutdown"
        );
        tokio::task::yield_now().await;
    }
    mock.open_gate();
    let mut all = first.to_vec();
    while let Some(chunk) = response.chunk().await.unwrap() {
        all.extend_from_slice(&chunk);
    }
    assert!(String::from_utf8(all)
        .unwrap()
        .ends_with("event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"));
    stopping.await.unwrap().unwrap();
}

#[tokio::test]
async fn a_port_in_use_is_a_clear_error() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let mut config = Config::default();
    config.server.port = taken.local_addr().unwrap().port();
    let err = server::start(Arc::new(config)).await.err().unwrap();
    assert!(matches!(err, StartError::AddrInUse { .. }));
    let text = err.to_string();
    assert!(
        text.contains("already in use") && text.contains("--port"),
        "{text}"
    );
}

#[tokio::test]
async fn remote_binding_requires_a_token() {
    let mut config = Config::default();
    config.server.host = "0.0.0.0".into();
    config.server.port = 0;
    let err = server::start(Arc::new(config.clone())).await.err().unwrap();
    assert!(matches!(err, StartError::RemoteWithoutAuth { .. }), "{err}");
    config.server.allow_remote_without_auth = true;
    let handle = server::start(Arc::new(config.clone())).await.unwrap();
    handle.shutdown().await.unwrap();
    config.server.allow_remote_without_auth = false;
    config.security.auth_token = Some("long-enough-token".into());
    let handle = server::start(Arc::new(config)).await.unwrap();
    handle.shutdown().await.unwrap();
}
