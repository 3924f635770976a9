//! Claude Code mode end to end through real sockets and real subprocesses: client → ccproxy
//! (127.0.0.1:0) → `fake-claude` (tests/fake-claude), which replays real CLI transcripts and
//! logs what it was given. The real CLI is tested against the mock upstream in `tests/cli`.
// A test fails loudly on the first surprise: unwrap and expect are how it says so.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)]

mod client_tools;
mod openai;
mod pool;
mod requests;
mod responses;

use ccproxy_core::config::Config;
use ccproxy_core::server::{self, ServerHandle};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// The `fake-claude` binary, built on demand (it is another package of the workspace).
fn fake_claude() -> PathBuf {
    static BUILT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BUILT
        .get_or_init(|| {
            let exe = std::env::current_exe().unwrap();
            let dir = exe.parent().unwrap().parent().unwrap();
            let path = dir.join("fake-claude");
            let status = std::process::Command::new(env!("CARGO"))
                .args([
                    "build",
                    "-q",
                    "-p",
                    "ccproxy-fake-claude",
                    "--bin",
                    "fake-claude",
                ])
                .status()
                .unwrap();
            assert!(status.success(), "building fake-claude");
            assert!(path.is_file(), "{} missing", path.display());
            path
        })
        .clone()
}

struct Harness {
    server: Option<ServerHandle>,
    dir: tempfile::TempDir,
    http: reqwest::Client,
}

impl Harness {
    async fn new() -> Self {
        Self::with(|_| {}).await
    }

    /// A server whose `claude` is a wrapper of `fake-claude` logging to `<dir>/cli.log`.
    async fn with(edit: impl FnOnce(&mut Config)) -> Self {
        Self::with_env("", edit).await
    }

    async fn with_env(env: &str, edit: impl FnOnce(&mut Config)) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let wrapper = dir.path().join("claude");
        std::fs::write(
            &wrapper,
            format!(
                "#!/bin/sh\nFAKE_CLAUDE_LOG='{}' {env} exec '{}' \"$@\"\n",
                dir.path().join("cli.log").display(),
                fake_claude().display()
            ),
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
        let mut config = Config::default();
        config.server.port = 0;
        config.observability.log_db = Some(dir.path().join("requests.db"));
        config.claude.cli_path = Some(wrapper);
        config.claude.cwd = Some(dir.path().join("workspace"));
        config.claude.read_timeout_secs = 20;
        config.auth.credentials_file = Some(dir.path().join("none.json"));
        config.auth.claude_credentials_file = Some(dir.path().join("none2.json"));
        edit(&mut config);
        config.validate().unwrap();
        let server = server::start(Arc::new(config)).await.unwrap();
        Self {
            server: Some(server),
            dir,
            http: reqwest::Client::new(),
        }
    }

    fn server(&self) -> &ServerHandle {
        self.server.as_ref().unwrap()
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.server().local_addr())
    }

    /// `GET path`, its body as JSON.
    async fn get_json(&self, path: &str) -> Value {
        let response = self.http.get(self.url(path)).send().await.unwrap();
        response.json().await.unwrap()
    }

    /// `GET path`, its body as text.
    async fn get_text(&self, path: &str) -> String {
        let response = self.http.get(self.url(path)).send().await.unwrap();
        response.text().await.unwrap()
    }

    async fn post(&self, path: &str, body: &Value) -> reqwest::Response {
        self.http
            .post(self.url(path))
            .json(body)
            .send()
            .await
            .unwrap()
    }

    /// Every JSON line `fake-claude` logged so far.
    fn log(&self) -> Vec<Value> {
        read_log(&self.dir.path().join("cli.log"))
    }

    /// The user lines the CLI processes received, parsed.
    fn user_lines(&self) -> Vec<Value> {
        self.log()
            .iter()
            .filter_map(|e| e["stdin"].as_str())
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|l| l["type"] == "user")
            .collect()
    }

    /// Whether any CLI process was sent an `interrupt`.
    fn interrupted(&self) -> bool {
        self.log()
            .iter()
            .filter_map(|e| e["stdin"].as_str())
            .any(|l| l.contains("\"interrupt\""))
    }

    /// `/sdk/status`'s `pool` once `done` holds for it (or after a generous minute, for the
    /// assertions that follow to show).
    async fn pool_when(&self, done: impl Fn(&Value) -> bool) -> Value {
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        loop {
            let pool = self.get_json("/sdk/status").await["pool"].clone();
            if done(&pool) || std::time::Instant::now() > deadline {
                return pool;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// PIDs of every CLI process started.
    fn pids(&self) -> Vec<u32> {
        self.log()
            .iter()
            .filter_map(|e| e["pid"].as_u64())
            .map(|p| p as u32)
            .collect()
    }

    async fn shutdown(&mut self) {
        self.server.take().unwrap().shutdown().await.unwrap();
    }
}

fn read_log(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// Whether a process runs (zombies count as gone).
fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat
            .rsplit(')')
            .next()
            .is_some_and(|rest| rest.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}

/// Waits up to 30 s for `check`.
async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    for _ in 0..600 {
        if check() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for {what}");
}

fn user(text: &str) -> Value {
    json!({"model": "sonnet", "max_tokens": 100, "messages": [{"role": "user", "content": text}]})
}

/// The SSE events of a body, as (name, data).
fn sse_events(body: &str) -> Vec<(String, Value)> {
    body.split("\n\n")
        .filter(|f| !f.trim().is_empty())
        .map(|frame| {
            let mut name = String::new();
            let mut data = String::new();
            for line in frame.lines() {
                if let Some(n) = line.strip_prefix("event: ") {
                    name = n.to_string();
                } else if let Some(d) = line.strip_prefix("data: ") {
                    data.push_str(d);
                }
            }
            (name, serde_json::from_str(&data).unwrap_or(Value::Null))
        })
        .collect()
}

/// The text of a whole Anthropic message.
fn message_text(message: &Value) -> String {
    message["content"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|b| b["text"].as_str())
        .collect()
}

async fn expect_error(response: reqwest::Response, status: u16, kind: &str) -> String {
    assert_eq!(response.status().as_u16(), status);
    let v: Value = response.json().await.unwrap();
    assert_eq!(v["type"], "error", "{v}");
    assert_eq!(v["error"]["type"], kind, "{v}");
    v["error"]["message"].as_str().unwrap().to_string()
}
