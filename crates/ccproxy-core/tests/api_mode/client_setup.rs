//! One-click client setup over HTTP (`/api/client-setup`): the owner's only, on real files in a
//! temporary home, and the address it writes reaches this server.

use super::*;
use ccproxy_core::owner;
use secrecy::ExposeSecret;

/// A server whose Claude Code, Codex and data folders are in `home`.
async fn harness(home: &std::path::Path, token: Option<&str>) -> Harness {
    let home = home.to_path_buf();
    let token = token.map(String::from);
    Harness::with(move |c| {
        c.env.claude_dir = Some(home.join(".claude"));
        c.env.codex_dir = Some(home.join(".codex"));
        c.env.data_dir = Some(home.join("data"));
        c.security.auth_token = token.map(Into::into);
    })
    .await
}

/// With the owner key (a server without an API token) and the test's API token (one with it:
/// presenting it is the proof of ownership there).
fn as_owner(r: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
    r.header(owner::HEADER, owner::key().expose_secret())
        .header("x-api-key", TOKEN)
}

const TOKEN: &str = "client-token-1";

const SETTINGS: &str =
    "{\n  \"model\": \"opus\",\n  \"env\": {\n    \"DISABLE_TELEMETRY\": \"1\"\n  }\n}\n";

#[tokio::test]
async fn only_the_owner_sets_up_a_client_and_a_web_page_cannot() {
    let home = tempfile::tempdir().unwrap();
    let file = home.path().join(".claude/settings.json");
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    std::fs::write(&file, SETTINGS).unwrap();
    let h = harness(home.path(), None).await;
    let url = h.url("/api/client-setup/claude-code");
    for request in [
        h.http.get(h.url("/api/client-setup")),
        h.http.post(&url).json(&json!({"mode": "api"})),
        h.http.delete(&url),
        // A page elsewhere, with a wrong key, or a simple cross-site form post.
        h.http
            .post(&url)
            .header("origin", "https://evil.example")
            .header("content-type", "text/plain")
            .body("{}"),
        h.http.post(&url).header(owner::HEADER, "guess"),
    ] {
        let r = request.send().await.unwrap();
        assert!(matches!(r.status().as_u16(), 403 | 415), "{}", r.status());
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["type"], "error", "{v}");
    }
    assert_eq!(std::fs::read_to_string(&file).unwrap(), SETTINGS);
    assert!(!home.path().join("data/client-setup.json").exists());
}

#[tokio::test]
async fn apply_preview_and_restore_round_trip_through_http() {
    let home = tempfile::tempdir().unwrap();
    let file = home.path().join(".claude/settings.json");
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    std::fs::write(&file, SETTINGS).unwrap();
    let h = harness(home.path(), Some(TOKEN)).await;

    let list: Value = as_owner(h.http.get(h.url("/api/client-setup")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let claude = &list["clients"][0];
    assert_eq!(claude["client"], "claude-code");
    assert_eq!(claude["applied"], false);
    assert_eq!(claude["file"], file.display().to_string());
    assert_eq!(claude["changes"][0]["key"], "env.ANTHROPIC_BASE_URL");
    assert_eq!(
        claude["changes"][0]["after"],
        format!("\"{}/api\"", h.url(""))
    );
    let shown = list.to_string();
    assert!(!shown.contains(TOKEN), "the token is never shown: {shown}");
    assert_eq!(list["clients"][1]["client"], "codex");

    // A dry run writes nothing; Claude Code mode is refused for Claude Code.
    let dry = as_owner(h.http.post(h.url("/api/client-setup/claude-code")))
        .json(&json!({"dry_run": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(dry.status(), 200);
    assert_eq!(std::fs::read_to_string(&file).unwrap(), SETTINGS);
    let r = as_owner(h.http.post(h.url("/api/client-setup/claude-code")))
        .json(&json!({"mode": "sdk"}))
        .send()
        .await
        .unwrap();
    let message = expect_error(r, 400, "invalid_request_error").await;
    assert!(message.contains("without end"), "{message}");
    let r = as_owner(h.http.post(h.url("/api/client-setup/cursor")))
        .send()
        .await
        .unwrap();
    expect_error(r, 404, "not_found_error").await;
    let r = as_owner(h.http.post(h.url("/api/client-setup/claude-code")))
        .json(&json!({"mode": "both"}))
        .send()
        .await
        .unwrap();
    expect_error(r, 400, "invalid_request_error").await;

    // Apply: the file points at this server, with the token; a request made as Claude Code
    // would make it (from the file's values) is answered.
    let r = as_owner(h.http.post(h.url("/api/client-setup/claude-code")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let applied: Value = r.json().await.unwrap();
    assert_eq!(applied["applied"], true, "{applied}");
    let settings: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    assert_eq!(settings["model"], "opus");
    assert_eq!(settings["env"]["DISABLE_TELEMETRY"], "1");
    let base = settings["env"]["ANTHROPIC_BASE_URL"].as_str().unwrap();
    let key = settings["env"]["ANTHROPIC_API_KEY"].as_str().unwrap();
    let r = h
        .http
        .post(format!("{base}/v1/messages"))
        .header("x-api-key", key)
        .json(
            &json!({"model": "claude-sonnet-4-20250514", "max_tokens": 16,
                      "messages": [{"role": "user", "content": "hi"}]}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    // Restore: byte for byte; a second restore has nothing to do.
    let r = as_owner(h.http.delete(h.url("/api/client-setup/claude-code")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let restored: Value = r.json().await.unwrap();
    assert_eq!(restored["exact"], true, "{restored}");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), SETTINGS);
    let r = as_owner(h.http.delete(h.url("/api/client-setup/claude-code")))
        .send()
        .await
        .unwrap();
    expect_error(r, 404, "not_found_error").await;
}
