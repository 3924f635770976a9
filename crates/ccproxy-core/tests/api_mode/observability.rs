//! The request log, its endpoints, the live stream, the quota and `/metrics`, after real requests.

use super::*;
use std::time::Instant;

/// Waits (bounded) until the log holds `n` rows; returns them, newest first.
async fn rows(h: &Harness, n: usize) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let v = h.get_json("/logs/query?limit=1000").await;
        let data = v["data"].as_array().cloned().unwrap_or_default();
        if data.len() >= n || Instant::now() > deadline {
            assert_eq!(data.len(), n, "rows in the log: {v}");
            return data;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn find(rows: &[Value], f: impl Fn(&Value) -> bool) -> &Value {
    rows.iter()
        .find(|r| f(r))
        .unwrap_or_else(|| panic!("no such row in {rows:?}"))
}

#[tokio::test]
async fn every_request_is_recorded_with_tokens_cost_and_quota() {
    let h = Harness::new().await;
    let body = r#"{"model":"claude-sonnet-4-20250514","max_tokens":16,"messages":[]}"#;
    assert_eq!(
        h.post("/api/v1/messages", body)
            .header("user-agent", "test-agent/1")
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let streamed = h
        .post(
            "/api/v1/messages",
            r#"{"model":"claude-sonnet-4-20250514","max_tokens":16,"stream":true,"messages":[]}"#,
        )
        .send()
        .await
        .unwrap();
    streamed.bytes().await.unwrap();
    let chat = h
        .http
        .post(h.url("/api/v1/chat/completions"))
        .header("x-mock", "tools")
        .json(&json!({"model": "gpt-4o", "stream": true, "messages": [{"role": "user", "content": "w"}]}))
        .send()
        .await
        .unwrap();
    chat.bytes().await.unwrap();
    let limited = h
        .post("/api/v1/messages", body)
        .header("x-mock", "error-429")
        .send()
        .await
        .unwrap();
    assert_eq!(limited.status(), 429);
    let mut slow = h
        .post(
            "/api/v1/messages",
            r#"{"model":"claude-sonnet-4-20250514","max_tokens":16,"stream":true,"messages":[]}"#,
        )
        .header("x-mock", "slow")
        .send()
        .await
        .unwrap();
    slow.chunk().await.unwrap();
    drop(slow);
    // Status routes (dashboard polling) are not logged; errors anywhere are.
    h.http.get(h.url("/api/status")).send().await.unwrap();
    h.http.get(h.url("/nowhere")).send().await.unwrap();

    let rows = rows(&h, 6).await;
    let json_row = find(&rows, |r| r["user_agent"] == "test-agent/1");
    assert_eq!(json_row["mode"], "api");
    assert_eq!(json_row["surface"], "anthropic");
    assert_eq!(json_row["route"], "/api/v1/messages");
    assert_eq!(json_row["method"], "POST");
    assert_eq!(json_row["model_requested"], "claude-sonnet-4-20250514");
    assert_eq!(json_row["model_served"], "claude-sonnet-4-20250514");
    assert_eq!(json_row["status"], 200);
    assert_eq!(json_row["upstream_status"], 200);
    assert_eq!(json_row["stream"], false);
    assert_eq!(
        (
            json_row["input_tokens"].as_u64(),
            json_row["output_tokens"].as_u64()
        ),
        (Some(12), Some(6))
    );
    let cost = json_row["cost_usd"].as_f64().unwrap();
    assert!(
        (cost - (12.0 * 3.0 + 6.0 * 15.0) / 1e6).abs() < 1e-12,
        "{cost}"
    );
    assert_eq!(json_row["upstream_request_id"], "req_mock_1");
    assert_eq!(json_row["quota_5h_utilization"], 0.25);
    assert!(json_row["ttfb_ms"].as_f64().unwrap() <= json_row["duration_ms"].as_f64().unwrap());

    let sse_row = find(&rows, |r| {
        r["stream"] == true && r["surface"] == "anthropic" && r["client_disconnected"] == false
    });
    assert_eq!(
        (
            sse_row["input_tokens"].as_u64(),
            sse_row["output_tokens"].as_u64()
        ),
        (Some(12), Some(6))
    );
    assert!(sse_row["ttft_ms"].as_f64().is_some());

    let chat_row = find(&rows, |r| r["surface"] == "openai-chat");
    assert_eq!(chat_row["model_requested"], "gpt-4o");
    assert_eq!(chat_row["model_served"], "claude-sonnet-4-20250514");
    assert_eq!(chat_row["route"], "/api/v1/chat/completions");
    assert_eq!(
        (
            chat_row["input_tokens"].as_u64(),
            chat_row["cache_read_tokens"].as_u64(),
            chat_row["output_tokens"].as_u64()
        ),
        (Some(20), Some(4), Some(15))
    );

    let limited_row = find(&rows, |r| r["status"] == 429);
    assert_eq!(limited_row["error_type"], "rate_limit_error");
    let gone = find(&rows, |r| r["client_disconnected"] == true);
    assert_eq!(gone["error_type"], "client_disconnected");
    let missing = find(&rows, |r| r["status"] == 404);
    assert_eq!(missing["route"], "unmatched");
    assert_eq!(missing["error_type"], "not_found_error");

    // Filters and paging.
    let page = h.get_json("/logs/query?status=4xx&limit=1").await;
    assert_eq!(page["data"].as_array().unwrap().len(), 1);
    let cursor = page["next_cursor"].as_i64().unwrap();
    let next = h
        .get_json(&format!("/logs/query?status=4xx&limit=1&cursor={cursor}"))
        .await;
    assert_eq!(next["data"].as_array().unwrap().len(), 1);
    assert_ne!(next["data"][0]["id"], page["data"][0]["id"]);
    let chat_only = h
        .get_json("/logs/query?surface=openai-chat&model=gpt-4o")
        .await;
    assert_eq!(chat_only["data"].as_array().unwrap().len(), 1);
    let r = h
        .http
        .get(h.url("/logs/query?limit=5000"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let r = h
        .http
        .get(h.url("/logs/query?status=teapot"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);

    // Summary.
    let s = h.get_json("/logs/summary?window=1h").await;
    assert_eq!(s["totals"]["requests"], 6);
    assert_eq!(s["totals"]["errors"], 2, "the 429 and the 404");
    assert_eq!(s["totals"]["input_tokens"], 12 + 12 + 20 + 12);
    assert!(s["models"]
        .as_array()
        .unwrap()
        .iter()
        .any(|m| m["model"] == "claude-sonnet-4-20250514"));
    assert!(!s["series"].as_array().unwrap().is_empty());
    assert_eq!(
        h.http
            .get(h.url("/logs/summary?window=2y"))
            .send()
            .await
            .unwrap()
            .status(),
        400
    );

    // Status.
    let st = h.get_json("/logs/status").await;
    assert_eq!(st["rows"], 6);
    assert_eq!(st["dropped"], 0);
    assert!(st["size_bytes"].as_u64().unwrap() > 0);
    assert!(st["oldest_ts"].as_i64().unwrap() <= st["newest_ts"].as_i64().unwrap());

    // Quota, from the headers of the last upstream response.
    let q = h.get_json("/api/quota").await;
    assert_eq!(q["available"], true);
    assert_eq!(q["quota"]["status"], "allowed");
    assert_eq!(q["quota"]["five_hour_utilization"], 0.25);
    assert_eq!(q["quota"]["seven_day_utilization"], 0.5);

    // Prometheus.
    let m = h.get_text("/metrics").await;
    for line in [
        r#"ccproxy_requests_total{mode="api",surface="anthropic",route="/api/v1/messages",model="claude-sonnet-4-20250514",status="200"} 3"#, // JSON, stream, and the stream the client left
        r#"ccproxy_requests_total{mode="api",surface="openai-chat",route="/api/v1/chat/completions",model="gpt-4o",status="200"} 1"#,
        r#"ccproxy_tokens_total{mode="api",model="gpt-4o",type="cache_read"} 4"#,
        r#"ccproxy_upstream_errors_total{mode="api",status="429"} 1"#,
        r#"ccproxy_quota_utilization{window="5h"} 0.25"#,
        r#"ccproxy_log_dropped_total 0"#,
        "ccproxy_active_requests 1",
    ] {
        assert!(m.contains(line), "missing `{line}` in:\n{m}");
    }
    assert!(m.contains("ccproxy_request_duration_seconds_bucket"));
    assert!(m.contains("ccproxy_time_to_first_token_seconds_count"));
    assert!(m.contains("ccproxy_cost_usd_total{mode=\"api\",model=\"claude-sonnet-4-20250514\"}"));
    assert!(m.contains("ccproxy_build_info{version="));
}

#[tokio::test]
async fn a_client_gone_before_the_answer_began_is_recorded() {
    let h = Harness::new().await;
    // Upstream sends nothing, not even headers; the client gives up first.
    let gone = h
        .post(
            "/api/v1/messages",
            r#"{"model":"claude-sonnet-4-20250514","max_tokens":16,"messages":[]}"#,
        )
        .header("x-mock", "hang")
        .timeout(Duration::from_millis(300))
        .send()
        .await;
    assert!(gone.is_err(), "the client timed out");
    let rows = rows(&h, 1).await;
    assert_eq!(rows[0]["status"], 499, "{rows:?}");
    assert_eq!(rows[0]["client_disconnected"], true);
    assert_eq!(rows[0]["error_type"], "client_disconnected");
    assert_eq!(rows[0]["mode"], "api");
    assert_eq!(rows[0]["route"], "/api/v1/messages");
    assert_eq!(rows[0]["model_requested"], "claude-sonnet-4-20250514");
    h.mock.open_gate();
    // And the request is no longer counted as in progress (the one in progress is this one).
    let metrics = h.get_text("/metrics").await;
    assert!(metrics.contains("ccproxy_active_requests 1\n"), "{metrics}");
}

/// The time to first token is when the first generated text leaves the proxy, on every surface —
/// not the stream's opening events (`message_start`, the chat stream's empty role chunk,
/// `response.created`). The mock's `slow` stream sends its first text 60 ms after its first event.
#[tokio::test]
async fn time_to_first_token_is_the_first_text_on_every_surface() {
    let h = Harness::new().await;
    let surfaces = [
        ("/api/v1/messages", "anthropic"),
        ("/api/v1/chat/completions", "openai-chat"),
        ("/api/v1/responses", "openai-responses"),
    ];
    for (path, _) in surfaces {
        let body = if path.ends_with("responses") {
            json!({"model": "claude-sonnet-4-20250514", "stream": true, "input": "hi"})
        } else {
            json!({"model": "claude-sonnet-4-20250514", "stream": true, "max_tokens": 9,
                   "messages": [{"role": "user", "content": "hi"}]})
        };
        let mut streamed = h
            .http
            .post(h.url(path))
            .header("x-mock", "slow")
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(streamed.status(), 200, "{path}");
        // Read until the first text ("xxxx") has arrived, then leave.
        let mut seen = Vec::new();
        while !seen.windows(4).any(|w| w == b"xxxx") {
            let chunk = streamed.chunk().await.unwrap().expect("the stream went on");
            seen.extend_from_slice(&chunk);
        }
        drop(streamed);
    }
    let rows = rows(&h, surfaces.len()).await;
    for (path, surface) in surfaces {
        let row = find(&rows, |r| r["surface"] == surface);
        assert_eq!(row["route"], path);
        let (ttfb, ttft) = (row["ttfb_ms"].as_f64(), row["ttft_ms"].as_f64());
        let (ttfb, ttft) = (
            ttfb.unwrap(),
            ttft.unwrap_or_else(|| panic!("no ttft: {row}")),
        );
        // The first byte is the stream's opening event; the text follows it by the mock's own
        // pauses (3 × 20 ms; a bound the mock sets, not a timing of the proxy).
        assert!(
            ttft - ttfb >= 20.0,
            "{surface}: ttft {ttft} ms, ttfb {ttfb} ms"
        );
    }
}

#[tokio::test]
async fn labels_stay_bounded() {
    let h = Harness::new().await;
    for i in 0..30 {
        h.post(
            "/api/v1/messages",
            format!(r#"{{"model":"made-up-{i}","max_tokens":16,"messages":[]}}"#),
        )
        .send()
        .await
        .unwrap();
    }
    let m = h.get_text("/metrics").await;
    assert!(!m.contains("made-up"), "{m}");
    assert!(m.contains(r#"model="other",status="200"} 30"#), "{m}");
}

#[tokio::test]
async fn the_live_stream_sends_matching_records() {
    let h = Harness::new().await;
    let mut live = h
        .http
        .get(h.url("/logs/stream?status=5xx"))
        .send()
        .await
        .unwrap();
    assert!(live.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/event-stream"));
    h.post("/api/v1/messages", r#"{"max_tokens":16}"#)
        .send()
        .await
        .unwrap();
    h.post("/api/v1/messages", r#"{"max_tokens":16}"#)
        .header("x-mock", "error-500")
        .send()
        .await
        .unwrap();
    let mut text = String::new();
    while !text.contains("event: request") {
        let chunk = tokio::time::timeout(Duration::from_secs(20), live.chunk())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        text = String::from_utf8(chunk.to_vec()).unwrap();
    }
    assert!(text.starts_with("event: request\ndata: {"), "{text}");
    let data: Value =
        serde_json::from_str(text.trim_end().split_once("data: ").unwrap().1).unwrap();
    assert_eq!(data["status"], 500);
}

#[tokio::test]
// The writer must stay paused while the requests run: holding its lock across them is the point.
#[allow(clippy::await_holding_lock)]
async fn a_full_queue_drops_records_and_never_blocks_requests() {
    let h = Harness::with(|c| c.observability.queue_capacity = 2).await;
    let log = h.server.state().request_log.clone();
    {
        let _paused = log.pause();
        for _ in 0..10 {
            let r = tokio::time::timeout(
                Duration::from_secs(10),
                h.post("/api/v1/messages", r#"{"max_tokens":16}"#).send(),
            )
            .await
            .expect("a request waited on the log")
            .unwrap();
            assert_eq!(r.status(), 200);
        }
        assert!(log.dropped() >= 7, "dropped {}", log.dropped());
    }
    let dropped = log.dropped() as usize;
    rows(&h, 10 - dropped).await;
    let m = h.get_text("/metrics").await;
    assert!(
        m.contains(&format!("ccproxy_log_dropped_total {dropped}")),
        "{m}"
    );
    let st = h.get_json("/logs/status").await;
    assert_eq!(st["dropped"], dropped as u64);
}

#[tokio::test]
async fn records_survive_a_restart_and_old_ones_expire() {
    let data = tempfile::tempdir().unwrap();
    let db = data.path().join("requests.db");
    let mock = Mock::start().await;
    let creds = data.path().join("credentials.json");
    write_credentials(&creds, "access-1", "refresh-1", now_ms() + 3_600_000);
    let config = |db: PathBuf| {
        let mut c = Config::default();
        c.server.port = 0;
        c.claude.api_base_url = mock.url();
        c.auth.credentials_file = Some(creds.clone());
        c.auth.claude_credentials_file = Some(data.path().join("none.json"));
        c.observability.log_db = Some(db);
        Arc::new(c)
    };
    let server = server::start(config(db.clone())).await.unwrap();
    let http = reqwest::Client::new();
    for _ in 0..2 {
        http.post(format!("http://{}/api/v1/messages", server.local_addr()))
            .body("{}")
            .send()
            .await
            .unwrap();
    }
    server.shutdown().await.unwrap();

    let server = server::start(config(db.clone())).await.unwrap();
    let v: Value = http
        .get(format!("http://{}/logs/query", server.local_addr()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["data"].as_array().unwrap().len(), 2, "{v}");

    // Make one record old, then apply retention (30 days).
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.execute(
        "UPDATE requests SET ts = ts - 31 * 86400000 WHERE id = (SELECT MIN(id) FROM requests)",
        [],
    )
    .unwrap();
    drop(conn);
    assert_eq!(server.state().request_log.trim_now().unwrap(), 1);
    let v: Value = http
        .get(format!("http://{}/logs/status", server.local_addr()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["rows"], 1);
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn bodies_are_stored_only_when_asked_and_redacted() {
    let h = Harness::with(|c| {
        c.observability.store_bodies = true;
        c.observability.max_stored_body_bytes = 400;
    })
    .await;
    h.mock.set_reply_size(2000, 8);
    let body = json!({
        "model": "claude-sonnet-4-20250514",
        "max_tokens": 16,
        "metadata": {"user_id": "u1", "api_key": "sk-should-not-be-stored"},
        "messages": [{"role": "user", "content": [
            {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "QUJDREVGR0hJSktMTU5PUA=="}},
            {"type": "text", "text": "describe"}
        ]}]
    });
    h.post("/api/v1/messages", body.to_string())
        .send()
        .await
        .unwrap();
    rows(&h, 1).await;
    let v = h.get_json("/logs/query?bodies=true").await;
    let row = &v["data"][0];
    let stored = row["request_body"].as_str().unwrap();
    assert!(
        !stored.contains("sk-should-not-be-stored") && !stored.contains("QUJDREVG"),
        "{stored}"
    );
    assert!(
        stored.contains("[redacted]") && stored.contains("bytes of base64 removed"),
        "{stored}"
    );
    let response = row["response_body"].as_str().unwrap();
    assert!(
        response.starts_with("{") && response.contains("more bytes not stored"),
        "capped: {response}"
    );
    // Without `bodies=true` they are not returned.
    let v = h.get_json("/logs/query").await;
    assert!(v["data"][0].get("request_body").is_none());

    // Off by default.
    let plain = Harness::new().await;
    plain
        .post("/api/v1/messages", body.to_string())
        .send()
        .await
        .unwrap();
    rows(&plain, 1).await;
    let v: Value = plain
        .http
        .get(plain.url("/logs/query?bodies=true"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(v["data"][0].get("request_body").is_none());
}

#[tokio::test]
async fn metrics_can_move_to_their_own_port() {
    let h = Harness::with(|c| c.observability.metrics_port = Some(0)).await;
    h.post("/api/v1/messages", r#"{"max_tokens":16}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(
        h.http.get(h.url("/metrics")).send().await.unwrap().status(),
        404
    );
    let addr = h.server.metrics_addr().unwrap();
    assert_ne!(addr, h.server.local_addr());
    let text = h
        .http
        .get(format!("http://{addr}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        text.contains("ccproxy_requests_total{mode=\"api\""),
        "{text}"
    );
    assert_eq!(
        h.http
            .get(format!("http://{addr}/api/status"))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    let Harness { server, .. } = h;
    server.shutdown().await.unwrap();
    assert!(
        reqwest::get(format!("http://{addr}/metrics"))
            .await
            .is_err(),
        "stopped with the server"
    );
}

#[tokio::test]
async fn the_oldest_records_go_when_the_database_is_too_big() {
    // A size budget of 0 MB: every record is over it.
    let h = Harness::with(|c| c.observability.max_db_mb = 0).await;
    for _ in 0..3 {
        h.post("/api/v1/messages", r#"{"max_tokens":16}"#)
            .send()
            .await
            .unwrap();
    }
    rows(&h, 3).await;
    assert_eq!(h.server.state().request_log.trim_now().unwrap(), 3);
    let st = h.get_json("/logs/status").await;
    assert_eq!(st["rows"], 0);
}

#[tokio::test]
async fn the_master_switch_turns_all_observation_off() {
    let h = Harness::with(|c| c.observability.enabled = false).await;
    let r = h
        .post(
            "/api/v1/messages",
            r#"{"model":"claude-sonnet-4-20250514","max_tokens":5,"messages":[]}"#,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "requests are still proxied");
    r.bytes().await.unwrap();
    let text = h.get_text("/metrics").await;
    assert!(!text.contains("ccproxy_requests_total{"), "{text}");
    let r = h.http.get(h.url("/logs/status")).send().await.unwrap();
    let message = expect_error(r, 404, "not_found_error").await;
    assert!(message.contains("observability.enabled"), "{message}");
    assert!(!h.data.path().join("requests.db").exists());
}

#[tokio::test]
async fn watched_responses_keep_their_exact_length() {
    let h = Harness::new().await;
    let r = h
        .post(
            "/api/v1/messages",
            r#"{"model":"claude-sonnet-4-20250514","max_tokens":5,"messages":[]}"#,
        )
        .send()
        .await
        .unwrap();
    let len = r.headers()["content-length"].to_str().unwrap().to_string();
    assert_eq!(r.bytes().await.unwrap().len().to_string(), len);
    // An error the proxy answers itself, too (it used to be re-chunked by the watcher).
    let r = h.http.get(h.url("/nope")).send().await.unwrap();
    assert!(r.headers().contains_key("content-length"));
    rows(&h, 2).await;
}

/// A log file that is not a database is the server's fault, not the caller's: 500 with SQLite's
/// reason (it was a 400, chosen by the words "is not" in the error text).
#[tokio::test]
async fn a_log_file_that_is_not_a_database_is_a_server_error() {
    let data = tempfile::tempdir().unwrap();
    let path = data.path().join("requests.db");
    std::fs::write(&path, vec![b'x'; 4096]).unwrap();
    let h = Harness::with(|c| c.observability.log_db = Some(path.clone())).await;
    for route in ["/logs/status", "/logs/query", "/logs/summary"] {
        let r = h.http.get(h.url(route)).send().await.unwrap();
        let message = expect_error(r, 500, "api_error").await;
        assert!(message.contains("not a database"), "{route}: {message}");
    }
    // A bad filter is still the caller's.
    for query in ["/logs/query?status=teapot", "/logs/query?limit=minus"] {
        let r = h.http.get(h.url(query)).send().await.unwrap();
        expect_error(r, 400, "invalid_request_error").await;
    }
}

fn mode(path: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

/// The request log may hold prompts and replies: its folder is created 0700, the database and
/// its WAL and shared-memory files 0600, and a database others could read is made private at
/// start-up (SQLite created it 0644 in a 0755 folder).
#[tokio::test]
async fn the_request_log_is_private_to_the_user() {
    use std::os::unix::fs::PermissionsExt;
    let data = tempfile::tempdir().unwrap();
    let fresh = data.path().join("new-folder/requests.db");
    let old = data.path().join("old.db");
    std::fs::write(&old, b"").unwrap();
    std::fs::set_permissions(&old, std::fs::Permissions::from_mode(0o644)).unwrap();
    for path in [fresh, old] {
        let h = Harness::with(|c| {
            c.observability.log_db = Some(path.clone());
            c.observability.store_bodies = true;
        })
        .await;
        let r = h
            .post(
                "/api/v1/messages",
                r#"{"model":"claude-sonnet-4-20250514","max_tokens":5,"messages":[{"role":"user","content":"secret prompt"}]}"#,
            )
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        r.bytes().await.unwrap();
        rows(&h, 1).await;
        assert_eq!(mode(&path), 0o600, "{}", path.display());
        for side in ["-wal", "-shm"] {
            let side = std::path::PathBuf::from(format!("{}{side}", path.display()));
            assert_eq!(mode(&side), 0o600, "{}", side.display());
        }
    }
    assert_eq!(mode(&data.path().join("new-folder")), 0o700);
}

/// The request log deleted while the server runs: the next records go to a new database (they
/// went to the unlinked file, and `/logs/query` answered an empty 200 forever), and
/// `/logs/status` says what happened.
#[tokio::test]
async fn a_deleted_request_log_is_made_anew_and_reported() {
    let h = Harness::new().await;
    let send = |model: &'static str| {
        let body = format!(r#"{{"model":"{model}","max_tokens":5,"messages":[]}}"#);
        let r = h.post("/api/v1/messages", body);
        async move {
            let r = r.send().await.unwrap();
            assert_eq!(r.status(), 200);
            r.bytes().await.unwrap();
        }
    };
    send("claude-sonnet-4-20250514").await;
    rows(&h, 1).await;
    let db = h.data.path().join("requests.db");
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
    }
    send("claude-opus-4-20250514").await;
    let after = rows(&h, 1).await;
    assert_eq!(after[0]["model_requested"], "claude-opus-4-20250514");
    assert!(db.exists());
    let status = h.get_json("/logs/status").await;
    assert_eq!(status["recreated"], 1, "{status}");
    assert!(
        status["problem"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("deleted or replaced")),
        "{status}"
    );
}
