//! What the CLI is given, and what is refused.

use super::*;

#[tokio::test]
async fn spawns_the_cli_as_configured_and_passes_system_model_and_history() {
    let h = Harness::with(|c| {
        c.claude.allowed_tools = vec!["Read".into(), "Bash(git:*)".into()];
        c.claude.disallowed_tools = vec!["WebFetch".into()];
        c.claude.max_turns = Some(3);
        c.claude.permission_mode = ccproxy_core::config::PermissionMode::AcceptEdits;
    })
    .await;
    let image = json!({"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}});
    let r = h
        .post(
            "/sdk/v1/messages",
            &json!({
                "model": "opus", "max_tokens": 50, "temperature": 0.2,
                "system": [{"type": "text", "text": "Be brief."}, {"type": "text", "text": "Speak French."}],
                "messages": [
                    {"role": "user", "content": [{"type": "text", "text": "What is this?"}, image]},
                    {"role": "assistant", "content": [{"type": "text", "text": "A red square."}]},
                    {"role": "user", "content": "FAKE_ECHO and now?"}
                ]
            }),
        )
        .await;
    assert_eq!(r.status(), 200);
    let ignored = r.headers()["x-ccproxy-ignored-params"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        ignored.contains("temperature") && ignored.contains("max_tokens"),
        "{ignored}"
    );
    let message: Value = r.json().await.unwrap();
    assert_eq!(message["type"], "message");
    assert_eq!(message["role"], "assistant");

    let log = h.log();
    let start = log.iter().find(|e| e["argv"].is_array()).unwrap();
    let argv: Vec<&str> = start["argv"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    let after = |flag: &str| argv[argv.iter().position(|a| *a == flag).unwrap() + 1];
    assert_eq!(after("--output-format"), "stream-json");
    assert_eq!(after("--input-format"), "stream-json");
    assert_eq!(after("--system-prompt"), "Be brief.\n\nSpeak French.");
    assert_eq!(after("--permission-mode"), "acceptEdits");
    assert_eq!(after("--allowedTools"), "Read,Bash(git:*)");
    assert_eq!(after("--disallowedTools"), "WebFetch");
    assert_eq!(after("--max-turns"), "3");
    assert!(argv.contains(&"--include-partial-messages") && argv.contains(&"--verbose"));
    assert!(!argv.contains(&"-p") && !argv.iter().any(|a| a.starts_with("--cwd")));
    assert_eq!(start["cwd"], json!(h.dir.path().join("workspace")));
    assert_eq!(start["entrypoint"], "sdk-rs");
    assert_eq!(start["nonessential"], "1");

    // Started on the request's model (no `set_model` round trip), initialized, then the turn.
    assert_eq!(after("--model"), "opus");
    let stdin: Vec<Value> = log
        .iter()
        .filter_map(|e| e["stdin"].as_str())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(stdin[0]["request"]["subtype"], "initialize", "{stdin:?}");
    // The whole conversation: a transcript of the earlier turns (the image in place), then the
    // last message.
    let users = h.user_lines();
    assert_eq!(users.len(), 1);
    let blocks = users[0]["message"]["content"].as_array().unwrap();
    let texts: String = blocks
        .iter()
        .filter_map(|b| b["text"].as_str())
        .collect::<Vec<_>>()
        .join("|");
    assert!(
        texts.contains("<user>|What is this?|</user>|<assistant>|A red square.|</assistant>"),
        "{texts}"
    );
    assert!(texts.ends_with("FAKE_ECHO and now?"), "{texts}");
    assert!(blocks.contains(&image), "the image is passed as a block");
}

#[tokio::test]
async fn a_single_message_is_sent_as_it_is() {
    let h = Harness::new().await;
    let content = json!([{"type": "text", "text": "FAKE_ECHO hi"}]);
    let r = h
        .post("/sdk/v1/messages", &json!({"model": "sonnet", "max_tokens": 5, "messages": [{"role": "user", "content": content}]}))
        .await;
    assert_eq!(r.status(), 200);
    let message: Value = r.json().await.unwrap();
    assert_eq!(message_text(&message), content.to_string());
    assert_eq!(h.user_lines()[0]["message"]["content"], content);
    // No system prompt → an empty one, never the CLI's default agent prompt.
    let argv = &h.log()[0]["argv"];
    let argv: Vec<&str> = argv
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert_eq!(
        argv[argv.iter().position(|a| *a == "--system-prompt").unwrap() + 1],
        ""
    );
}

#[tokio::test]
async fn no_request_field_can_widen_what_the_cli_may_do() {
    let h = Harness::new().await;
    for field in [
        "cwd",
        "permission_mode",
        "permissionMode",
        "allowed_tools",
        "disallowed_tools",
        "mcp_servers",
        "mcp_config",
        "max_turns",
        "add_dirs",
        "env",
        "settings",
        "resume",
        "dangerously_skip_permissions",
    ] {
        let mut body = user("hi");
        body[field] = json!("bypassPermissions");
        let message = expect_error(
            h.post("/sdk/v1/messages", &body).await,
            400,
            "invalid_request_error",
        )
        .await;
        assert!(
            message.contains(field) && message.contains("server setting"),
            "{message}"
        );
    }
    // The same through the OpenAI surface, in OpenAI's shape.
    let r = h
        .post(
            "/sdk/v1/chat/completions",
            &json!({"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}], "permission_mode": "bypassPermissions"}),
        )
        .await;
    assert_eq!(r.status(), 400);
    let v: Value = r.json().await.unwrap();
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("permission_mode"),
        "{v}"
    );
    // None of that reached a CLI.
    assert!(h.user_lines().is_empty());
}

#[tokio::test]
async fn malformed_requests_get_clear_errors() {
    let h = Harness::new().await;
    for (body, needle) in [
        (
            json!({"model": "m", "max_tokens": 1, "messages": []}),
            "at least one",
        ),
        (json!({"model": "m", "max_tokens": 1}), "messages"),
        (
            json!({"model": "m", "max_tokens": 1, "messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "pre"}]}),
            "last message",
        ),
        (
            json!({"model": "m", "max_tokens": 1, "messages": [{"role": "system", "content": "a"}]}),
            "role",
        ),
        (
            json!({"model": 5, "max_tokens": 1, "messages": [{"role": "user", "content": "a"}]}),
            "model",
        ),
        // As the API answers it.
        (
            json!({"model": "m", "messages": [{"role": "user", "content": "a"}]}),
            "max_tokens",
        ),
        (
            json!({"model": "m", "max_tokens": 0, "messages": [{"role": "user", "content": "a"}]}),
            "max_tokens",
        ),
    ] {
        let message = expect_error(
            h.post("/sdk/v1/messages", &body).await,
            400,
            "invalid_request_error",
        )
        .await;
        assert!(message.contains(needle), "{message}");
    }
    let r = h
        .http
        .post(h.url("/sdk/v1/messages"))
        .body("{not json")
        .send()
        .await
        .unwrap();
    expect_error(r, 400, "invalid_request_error").await;
    let r = h.post("/sdk/bad%20id/v1/messages", &user("hi")).await;
    expect_error(r, 400, "invalid_request_error").await;
}

#[test]
fn bypass_permissions_needs_an_explicit_opt_in() {
    let mut c = Config::default();
    c.claude.permission_mode = ccproxy_core::config::PermissionMode::BypassPermissions;
    let problems = c.validate().unwrap_err();
    assert!(format!("{problems:?}").contains("allow_bypass_permissions"));
    c.claude.allow_bypass_permissions = true;
    c.validate().unwrap();
}

#[tokio::test]
async fn a_missing_cli_is_a_clear_503_and_the_server_still_serves() {
    let h = Harness::with(|c| c.claude.cli_path = Some("/nonexistent/claude".into())).await;
    let message = expect_error(
        h.post("/sdk/v1/messages", &user("hi")).await,
        503,
        "api_error",
    )
    .await;
    assert!(message.contains("/nonexistent/claude"), "{message}");
    let status = h.get_json("/sdk/status").await;
    assert_eq!(status["cli"]["found"], false, "{status}");
    let health = h.http.get(h.url("/health")).send().await.unwrap();
    assert_eq!(health.status(), 200);
}

#[tokio::test]
async fn a_too_old_cli_is_refused_with_the_upgrade_command() {
    let h = Harness::with_env("FAKE_CLAUDE_VERSION='1.0.2 (Claude Code)'", |_| {}).await;
    let message = expect_error(
        h.post("/sdk/v1/messages", &user("hi")).await,
        503,
        "api_error",
    )
    .await;
    assert!(
        message.contains("1.0.2") && message.contains("npm install -g @anthropic-ai/claude-code"),
        "{message}"
    );
    let status = h.get_json("/sdk/status").await;
    assert_eq!(status["cli"]["version"], "1.0.2", "{status}");
    assert_eq!(status["cli"]["usable"], false, "{status}");
}

/// A system prompt too long for the command line (the OS limits one argument to 128 KiB: it was
/// a 502 `Argument list too long`) reaches the CLI whole, through `--system-prompt-file`; a short
/// one stays on the command line; a NUL character, which no argument can hold, is a 400 naming
/// `system`.
#[tokio::test]
async fn system_prompts_of_any_length_reach_the_cli() {
    let h = Harness::new().await;
    let long = "You are terse. ".repeat(200 * 1024 / 15);
    let mut body = user("hello");
    body["system"] = json!(long);
    let r = h.post("/sdk/v1/messages", &body).await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let started: Vec<Value> = h
        .log()
        .into_iter()
        .filter(|e| e["argv"].is_array())
        .collect();
    let with_file = started
        .iter()
        .find(|e| e["system_prompt_file_bytes"].is_u64())
        .unwrap_or_else(|| panic!("no CLI got the prompt in a file: {started:?}"));
    assert_eq!(with_file["system_prompt_file_bytes"], long.len());
    let argv = with_file["argv"].as_array().unwrap();
    assert!(!argv.iter().any(|a| a == "--system-prompt"), "{argv:?}");
    assert!(argv.iter().all(|a| a.as_str().unwrap().len() < 4096));

    let mut body = user("hello");
    body["system"] = json!("short\u{0}prompt");
    let message = expect_error(
        h.post("/sdk/v1/messages", &body).await,
        400,
        "invalid_request_error",
    )
    .await;
    assert!(message.contains("`system`"), "{message}");
}
