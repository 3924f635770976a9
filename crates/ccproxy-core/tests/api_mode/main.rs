//! End-to-end tests of API mode through real sockets: client → ccproxy (127.0.0.1:0) → the mock
//! Anthropic upstream (127.0.0.1:0).
// A test fails loudly on the first surprise: unwrap and expect are how it says so.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)]

mod billing;
mod client_setup;
mod connections;
mod credentials;
mod lifecycle;
mod oauth;
mod observability;
mod openai;
mod proxy;
mod security;
mod ui;

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
    /// Where the request log lives (kept for the harness's lifetime).
    data: tempfile::TempDir,
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
        let data = tempfile::tempdir().unwrap();
        let mut config = Config::default();
        config.observability.log_db = Some(data.path().join("requests.db"));
        config.server.port = 0;
        config.claude.api_base_url = mock.url();
        config.oauth.token_url = format!("{}/v1/oauth/token", mock.url());
        config.oauth.authorize_url = format!("{}/oauth/authorize", mock.url());
        config.oauth.profile_url = format!("{}/api/oauth/profile", mock.url());
        config.oauth.revoke_url = format!("{}/v1/oauth/token/revoke", mock.url());
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
            data,
            http: reqwest::Client::new(),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.server.local_addr())
    }

    /// `GET path` (with the harness's client), its body as JSON.
    async fn get_json(&self, path: &str) -> Value {
        let response = self.http.get(self.url(path)).send().await.unwrap();
        response.json().await.unwrap()
    }

    /// `GET path` (with the harness's client), its body as text.
    async fn get_text(&self, path: &str) -> String {
        let response = self.http.get(self.url(path)).send().await.unwrap();
        response.text().await.unwrap()
    }

    fn credentials_path(&self) -> PathBuf {
        self.dir.path().join("credentials.json")
    }

    /// A streamed `/api/v1/messages` request answered by the mock's `scenario` (see the mock).
    async fn stream_scenario(&self, scenario: &str) -> reqwest::Response {
        self.post(
            "/api/v1/messages",
            r#"{"model":"m","max_tokens":16,"stream":true,"messages":[]}"#,
        )
        .header("x-mock", scenario)
        .send()
        .await
        .unwrap()
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
