//! Pass-through behaviour of API mode: bodies, headers, query strings, SSE, errors.

use super::*;

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
            r#"{"model":"claude-sonnet-4-20250514","max_tokens":16,"messages":[{"role":"user","content":"hi"}]}"#,
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
        .post(
            "/api/v1/messages",
            r#"{"model":"m","max_tokens":16,"messages":[]}"#,
        )
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
    let mut response = h.stream_scenario("gated").await;
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
            r#"{"model":"m","max_tokens":16,"stream":true,"messages":[]}"#,
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
        .body(r#"{"model":"m","max_tokens":16,"stream":true,"messages":[]}"#)
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
    let response = h.stream_scenario("stream-break").await;
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
    let mut response = h.stream_scenario("slow").await;
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
async fn an_unreachable_upstream_is_a_502() {
    // A port that was just free: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let h =
        Harness::with(move |c| c.claude.api_base_url = format!("http://127.0.0.1:{port}")).await;
    let r = h
        .post("/api/v1/messages", r#"{"max_tokens":16}"#)
        .send()
        .await
        .unwrap();
    let m = expect_error(r, 502, "api_error").await;
    assert!(m.contains("upstream"), "{m}");
}

#[tokio::test]
async fn models_are_listed_in_a_shape_both_sdks_read() {
    let h = Harness::new().await;
    for path in ["/api/v1/models", "/api/models"] {
        let v = h.get_json(path).await;
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
async fn status_reports_credentials_upstream_and_version() {
    let h = Harness::new().await;
    let status = h.get_json("/api/status").await;
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

/// Upstream sends the headers and one event, then goes silent: at the read time-out the client
/// gets the error event and the end of the stream, while upstream is still stalled (it was kept
/// waiting until upstream closed, the proxy re-polling the timed-out body in a busy loop).
#[tokio::test]
async fn a_stalled_stream_ends_with_an_error_event_at_the_read_timeout() {
    let h = Harness::with(|c| c.claude.read_timeout_secs = 1).await;
    let response = h.stream_scenario("gated").await;
    assert_eq!(response.status(), 200);
    // The gate never opens: only the proxy's time-out can end this stream.
    let text = tokio::time::timeout(Duration::from_secs(60), response.text())
        .await
        .expect("the stream ends while upstream is still stalled")
        .unwrap();
    assert!(text.starts_with("event: message_start\n"), "{text}");
    assert!(text.ends_with("\n\n"), "{text}");
    let error = text
        .split("event: error\ndata: ")
        .nth(1)
        .expect("an error event");
    let error: Value = serde_json::from_str(error.trim()).unwrap();
    assert_eq!(error["type"], "error", "{text}");
    assert!(
        error["error"]["message"]
            .as_str()
            .unwrap()
            .contains("claude.read_timeout_secs"),
        "{text}"
    );
    assert_eq!(text.matches("event: error").count(), 1, "{text}");
}

/// Every other method and path under `/api/` reaches upstream as `/v1/messages` does — the OAuth
/// token instead of the client's key, betas merged, the body byte for byte, upstream's answer
/// as it is: Claude Code's `HEAD /api/hello`, the Files API (a multipart upload), a batch. An
/// OpenAI path CCProxy does not serve stays a 404 in OpenAI's shape.
#[tokio::test]
async fn other_api_paths_reach_upstream_untouched() {
    let h = Harness::new().await;
    let r = h
        .http
        .head(h.url("/api/api/hello"))
        .header("x-api-key", "client-key")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = h
        .http
        .get(h.url("/api/v1/files?limit=2"))
        .header("anthropic-beta", "files-api-2025-04-14")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let answer: Value = r.json().await.unwrap();
    assert_eq!(answer["method"], "GET");
    let upload = b"--XYZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.txt\"\r\nContent-Type: text/plain\r\n\r\nhello\r\n--XYZ--\r\n";
    let r = h
        .http
        .post(h.url("/api/v1/files"))
        .header("content-type", "multipart/form-data; boundary=XYZ")
        .header("anthropic-beta", "files-api-2025-04-14")
        .body(upload.to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let batch = br#"{"requests": [{"custom_id": "a", "params": {"model": "m", "max_tokens": 5, "messages": []}}]}"#;
    let r = h
        .http
        .post(h.url("/api/v1/messages/batches"))
        .header("content-type", "application/json")
        .body(batch.to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    let seen = h.mock.requests();
    let find = |method: &str, uri: &str| {
        seen.iter()
            .find(|r| r.method == method && r.uri == uri)
            .unwrap_or_else(|| panic!("{method} {uri} did not reach upstream"))
    };
    let hello = find("HEAD", "/api/hello");
    assert_eq!(hello.header("authorization"), "Bearer access-1");
    assert_eq!(hello.header("x-api-key"), "", "the client's key stays here");
    assert!(hello.header("anthropic-beta").contains("oauth-2025-04-20"));
    let list = find("GET", "/v1/files?limit=2");
    let betas = list.header("anthropic-beta");
    assert!(betas.contains("files-api-2025-04-14") && betas.contains("oauth-2025-04-20"));
    let up = find("POST", "/v1/files");
    assert_eq!(&up.body[..], &upload[..]);
    assert_eq!(
        up.header("content-type"),
        "multipart/form-data; boundary=XYZ"
    );
    assert_eq!(&find("POST", "/v1/messages/batches").body[..], &batch[..]);

    let r = h
        .http
        .post(h.url("/api/v1/responses/compact"))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let v: Value = r.json().await.unwrap();
    assert!(
        v["error"]["message"].is_string() && v.get("type").is_none(),
        "{v}"
    );
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

/// A gzip-encoded Messages body (as recent Claude Code versions can send): with the identity line
/// it goes upstream byte for byte, still encoded; without it, it is decoded, the identity added,
/// and sent plain. A body that decodes past `server.max_body_bytes` is a 413, and one that is not
/// what its encoding says a 400.
#[tokio::test]
async fn compressed_bodies_get_the_identity_too() {
    let h = Harness::with(|c| c.server.max_body_bytes = 64 * 1024).await;
    let claude_code = format!(
        r#"{{"model":"claude-sonnet-4-20250514","system":[{{"type":"text","text":"{IDENTITY}"}}],"max_tokens":5,"messages":[{{"role":"user","content":"hi"}}]}}"#
    );
    let encoded = gzip(claude_code.as_bytes());
    let r = h
        .post("/api/v1/messages", encoded.clone())
        .header("content-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let sent = &h.mock.requests()[0];
    assert_eq!(&sent.body[..], &encoded[..], "untouched");
    assert_eq!(sent.header("content-encoding"), "gzip");

    let plain = r#"{"model":"claude-sonnet-4-20250514","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}"#;
    let r = h
        .post("/api/v1/messages", gzip(plain.as_bytes()))
        .header("content-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let sent = &h.mock.requests()[1];
    assert_eq!(sent.header("content-encoding"), "");
    let v = body_json(&sent.body);
    assert_eq!(v["system"][0]["text"], IDENTITY);
    assert_eq!(v["messages"][0]["content"], "hi");

    let bomb = gzip(format!(r#"{{"pad":"{}"}}"#, " ".repeat(1 << 20)).as_bytes());
    let r = h
        .post("/api/v1/messages", bomb)
        .header("content-encoding", "gzip")
        .send()
        .await
        .unwrap();
    expect_error(r, 413, "request_too_large").await;
    let r = h
        .post("/api/v1/messages", plain)
        .header("content-encoding", "gzip")
        .send()
        .await
        .unwrap();
    expect_error(r, 400, "invalid_request_error").await;
    assert_eq!(h.mock.requests().len(), 2);
}
