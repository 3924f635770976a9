//! Real client programs through API mode: the official Anthropic Python SDK and the real
//! `claude` CLI (Claude Code), both installed by `scripts/test.sh` (pinned in `tests/e2e/`).
//!
//! When a tool is not installed the test says so and passes only if `CCPROXY_E2E_REQUIRED` is
//! unset; `scripts/test.sh` (and so CI) sets it, so there these tests always run.

use super::*;
use ccproxy_protocol::anthropic::identity::{ACCEPTED_IDENTITIES, IDENTITY_BLOCK};
use std::process::Command;

fn e2e_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/e2e")
}

/// The tool at `env` or `default`, or `None` (skip) when absent and not required.
fn tool(env: &str, default: PathBuf) -> Option<PathBuf> {
    let path = std::env::var_os(env).map(PathBuf::from).unwrap_or(default);
    if path.is_file() {
        return Some(path);
    }
    let message = format!(
        "{} not found (set {env} or run scripts/test.sh, which installs it)",
        path.display()
    );
    if std::env::var_os("CCPROXY_E2E_REQUIRED").is_some() {
        panic!("{message}");
    }
    eprintln!("SKIPPED: {message}");
    None
}

#[tokio::test]
async fn official_anthropic_python_sdk_works_through_api_mode() {
    let Some(python) = tool(
        "CCPROXY_TEST_PYTHON",
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/e2e-venv/bin/python"),
    ) else {
        return;
    };
    let h = Harness::with(|c| c.security.auth_token = Some("local-sdk-token-0123".into())).await;
    let script = e2e_dir().join("anthropic_sdk.py");
    let base = h.url("/api");
    let output = tokio::task::spawn_blocking(move || {
        Command::new(python)
            .arg(script)
            .arg(base)
            .arg("local-sdk-token-0123")
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "SDK script failed:\n{stdout}\n{stderr}"
    );
    assert_eq!(stdout.trim(), "ok");
    let seen = h.mock.requests();
    assert_eq!(
        seen.len(),
        4,
        "create, stream, count_tokens, the 429 (models are served locally)"
    );
    for r in &seen {
        assert_eq!(r.header("authorization"), "Bearer access-1");
        assert!(r.headers.get("x-api-key").is_none());
        assert!(r.header("anthropic-beta").contains("oauth-2025-04-20"));
        assert!(
            r.header("user-agent").starts_with("Anthropic/Python"),
            "{}",
            r.header("user-agent")
        );
    }
}

#[tokio::test]
async fn official_openai_python_sdk_works_through_api_mode() {
    let Some(python) = tool(
        "CCPROXY_TEST_PYTHON",
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/e2e-venv/bin/python"),
    ) else {
        return;
    };
    let h = Harness::with(|c| c.security.auth_token = Some("local-sdk-token-0123".into())).await;
    // Both spellings of the base URL: `/api/v1` and `/api`.
    for base in [h.url("/api/v1"), h.url("/api")] {
        let script = e2e_dir().join("openai_sdk.py");
        let python = python.clone();
        let output = tokio::task::spawn_blocking(move || {
            Command::new(python)
                .arg(script)
                .arg(base)
                .arg("local-sdk-token-0123")
                .output()
                .unwrap()
        })
        .await
        .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            output.status.success(),
            "SDK script failed:\n{stdout}\n{stderr}"
        );
        assert_eq!(stdout.trim(), "ok");
    }
    let seen = h.mock.requests();
    assert!(!seen.is_empty());
    for r in &seen {
        assert_eq!(r.uri, "/v1/messages");
        assert_eq!(r.header("authorization"), "Bearer access-1");
        assert!(
            r.headers.get("x-stainless-lang").is_none(),
            "OpenAI SDK headers stay here"
        );
        let body = body_json(&r.body);
        assert_eq!(
            body["system"][0]["text"], IDENTITY,
            "identity first in every translated request"
        );
    }
}

#[tokio::test]
async fn claude_code_cli_works_through_api_mode() {
    let Some(claude) = tool(
        "CCPROXY_TEST_CLAUDE",
        e2e_dir().join("node_modules/.bin/claude"),
    ) else {
        return;
    };
    let h = Harness::with(|c| c.security.auth_token = Some("local-claude-token-0123".into())).await;
    let home = tempfile::tempdir().unwrap();
    let base = h.url("/api");
    let home_path = home.path().to_path_buf();
    let output = tokio::task::spawn_blocking(move || {
        Command::new(claude)
            .args(["-p", "say hello", "--output-format", "json"])
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", &home_path)
            .env("ANTHROPIC_BASE_URL", base)
            .env("ANTHROPIC_API_KEY", "local-claude-token-0123")
            .env("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1")
            .current_dir(&home_path)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "claude failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let result: Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(result["is_error"], false, "{result}");
    assert_eq!(result["result"], "x".repeat(64), "{result}");

    let turns: Vec<_> = h
        .mock
        .requests()
        .into_iter()
        .filter(|r| r.uri.starts_with("/v1/messages"))
        .collect();
    assert!(!turns.is_empty());
    for r in &turns {
        assert_eq!(r.uri, "/v1/messages?beta=true", "query string kept");
        assert_eq!(r.header("authorization"), "Bearer access-1");
        assert!(
            r.headers.get("x-api-key").is_none(),
            "local token not forwarded"
        );
        let betas = r.header("anthropic-beta");
        assert!(
            betas.contains("oauth-2025-04-20") && betas.contains("claude-code-20250219"),
            "{betas}"
        );
        assert!(
            r.header("user-agent").starts_with("claude-cli/"),
            "{}",
            r.header("user-agent")
        );
        // Claude Code carries its own identity line after its billing block; the proxy must not
        // add a second one.
        let body = std::str::from_utf8(&r.body).unwrap();
        assert!(
            !body.contains(IDENTITY_BLOCK),
            "no identity inserted into Claude Code's request"
        );
        let system = &body_json(&r.body)["system"];
        assert!(system[0]["text"]
            .as_str()
            .unwrap()
            .starts_with("x-anthropic-billing-header:"));
        let line = system[1]["text"].as_str().unwrap();
        assert!(ACCEPTED_IDENTITIES.contains(&line), "{line}");
        let v = body_json(&r.body);
        assert!(v["messages"].as_array().is_some_and(|m| !m.is_empty()));
    }
}
