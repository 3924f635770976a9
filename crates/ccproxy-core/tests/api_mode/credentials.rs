//! OAuth credentials in API mode: sources, file edits, single-flight refresh, dead logins.

use super::*;

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
        h.post(
            "/api/v1/messages",
            r#"{"model":"m","max_tokens":16,"messages":[]}"#,
        )
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
    let mut files: Vec<_> = std::fs::read_dir(h.dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    files.sort();
    assert_eq!(
        files,
        ["credentials.json", "credentials.json.lock"],
        "no temporary or backup files left"
    );
    let lock = h.dir.path().join("credentials.json.lock");
    assert_eq!(
        std::fs::metadata(lock).unwrap().len(),
        0,
        "the lock file holds nothing"
    );
}

#[tokio::test]
async fn a_401_from_upstream_refreshes_once_and_retries() {
    let h = Harness::new().await;
    // The file's token looks valid, but upstream has revoked it.
    h.mock.require_token("something-else");
    h.mock.accept_refresh_token("refresh-1");
    let response = h
        .post(
            "/api/v1/messages",
            r#"{"model":"m","max_tokens":16,"messages":[]}"#,
        )
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
        .post(
            "/api/v1/messages",
            r#"{"model":"m","max_tokens":16,"messages":[]}"#,
        )
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
            .post(
                "/api/v1/messages",
                r#"{"model":"m","max_tokens":16,"messages":[]}"#,
            )
            .send()
            .await
            .unwrap();
        let message = expect_error(response, 401, "authentication_error").await;
        assert!(message.contains("ccproxy auth login"), "{message}");
    }
    assert_eq!(h.mock.token_calls(), 1, "a dead refresh token is sent once");
    let status = h.get_json("/api/status").await;
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
        .post(
            "/api/v1/messages",
            r#"{"model":"m","max_tokens":16,"messages":[]}"#,
        )
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
            .post(
                "/api/v1/messages",
                r#"{"model":"m","max_tokens":16,"messages":[]}"#,
            )
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
    h.post("/api/v1/messages", r#"{"max_tokens":16}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(
        h.mock.requests().pop().unwrap().header("authorization"),
        "Bearer access-claude"
    );
    let status = h.get_json("/api/status").await;
    assert_eq!(status["credentials"]["source"], "claude_code");

    std::fs::remove_file(&claude_file).unwrap();
    h.post("/api/v1/messages", r#"{"max_tokens":16}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(
        h.mock.requests().pop().unwrap().header("authorization"),
        "Bearer access-env"
    );
    let status = h.get_json("/api/status").await;
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
    let response = h
        .post("/api/v1/messages", r#"{"max_tokens":16}"#)
        .send()
        .await
        .unwrap();
    let message = expect_error(response, 401, "authentication_error").await;
    assert!(message.contains("ccproxy auth login"), "{message}");
    assert!(h.mock.requests().is_empty());
    let status = h.get_json("/api/status").await;
    assert_eq!(status["credentials"]["state"], "missing");
}

/// A refresh that fails is not repeated by every request that waited for it: its failure is
/// the answer for all of them, the still-valid token is used meanwhile, and the next attempt
/// backs off. A hanging token endpoint does not hold up requests while the token is valid.
/// (Ten concurrent requests made ten refresh calls one after another.)
#[tokio::test]
async fn a_failing_refresh_is_shared_and_the_valid_token_keeps_working() {
    let h = Harness::new().await;
    // Expires in two minutes: inside the refresh margin, still valid.
    write_credentials(
        &h.credentials_path(),
        "access-1",
        "refresh-1",
        now_ms() + 120_000,
    );
    h.mock.accept_refresh_token("refresh-1");
    h.mock.set_token_failure(Some(500));
    let wave = || {
        futures_util::future::join_all((0..10).map(|_| {
            h.post(
                "/api/v1/messages",
                r#"{"model":"m","max_tokens":16,"messages":[]}"#,
            )
            .send()
        }))
    };
    for r in wave().await {
        assert_eq!(r.unwrap().status(), 200);
    }
    assert_eq!(h.mock.token_calls(), 1, "one attempt, its failure shared");
    for r in wave().await {
        assert_eq!(r.unwrap().status(), 200);
    }
    assert_eq!(h.mock.token_calls(), 1, "the next attempt backs off");
    for r in h.mock.requests().iter().filter(|r| r.uri == "/v1/messages") {
        assert_eq!(r.header("authorization"), "Bearer access-1");
    }
}

#[tokio::test]
async fn a_hanging_token_endpoint_does_not_hold_up_requests_with_a_valid_token() {
    let h = Harness::with(|c| c.oauth.request_timeout_secs = 600).await;
    write_credentials(
        &h.credentials_path(),
        "access-1",
        "refresh-1",
        now_ms() + 120_000,
    );
    h.mock.accept_refresh_token("refresh-1");
    h.mock.set_token_hang(true);
    let mut requests: futures_util::stream::FuturesUnordered<_> = (0..10)
        .map(|_| {
            h.post(
                "/api/v1/messages",
                r#"{"model":"m","max_tokens":16,"messages":[]}"#,
            )
            .send()
        })
        .collect();
    // The endpoint hangs for ten minutes. The request that started the refresh waits for it
    // (bounded by oauth.request_timeout_secs); the nine others must not.
    let nine = async {
        use futures_util::StreamExt;
        for _ in 0..9 {
            let r = requests.next().await.unwrap().unwrap();
            assert_eq!(r.status(), 200);
        }
    };
    tokio::time::timeout(Duration::from_secs(60), nine)
        .await
        .expect("requests waited for the hanging refresh");
    assert_eq!(h.mock.token_calls(), 1);
}

/// What a crash between the token endpoint's answer and the rename leaves: the old file, whose
/// refresh token is now dead (tokens rotate), and the new login complete in a temporary file
/// next to it. It is recovered — at start-up, and before a refresh — instead of logging the user
/// out; stale temporary files are removed.
#[tokio::test]
async fn a_login_left_in_a_temporary_file_by_a_crash_is_recovered() {
    fn crashed_write(path: &PathBuf, tmp_name: &str, access: &str) {
        write_credentials(path, "access-old", "refresh-dead", now_ms() - 1000);
        let tmp = path.with_file_name(tmp_name);
        write_credentials(&tmp, access, "refresh-new", now_ms() + 3_600_000);
        // An older, superseded leftover too.
        let older = path.with_file_name(".credentials-older.tmp");
        write_credentials(&older, "access-older", "refresh-older", now_ms() - 5000);
    }
    fn leftovers(dir: &std::path::Path) -> Vec<String> {
        std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".tmp"))
            .collect()
    }

    // Before a refresh: the server is running when it finds the expired login.
    let h = Harness::new().await;
    h.mock.require_token("access-new");
    crashed_write(
        &h.credentials_path(),
        ".credentials-crash1.tmp",
        "access-new",
    );
    let r = h
        .post(
            "/api/v1/messages",
            r#"{"model":"m","max_tokens":16,"messages":[]}"#,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        h.mock.token_calls(),
        0,
        "the recovered token is fresh: no refresh"
    );
    let saved = body_json(&std::fs::read(h.credentials_path()).unwrap());
    assert_eq!(saved["claudeAiOauth"]["refreshToken"], "refresh-new");
    assert_eq!(leftovers(h.dir.path()), Vec::<String>::new());

    // At start-up.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("credentials.json");
    let h = Harness::with(|c| {
        c.auth.credentials_file = Some(path.clone());
        crashed_write(&path, ".credentials-crash2.tmp", "access-new-2");
    })
    .await;
    let saved = body_json(&std::fs::read(&path).unwrap());
    assert_eq!(saved["claudeAiOauth"]["accessToken"], "access-new-2");
    assert_eq!(leftovers(dir.path()), Vec::<String>::new());
    drop(h);
}
