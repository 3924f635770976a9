//! What the client gets back: the CLI's replies, streams, tool use, errors.

use super::*;

/// `output_tokens` of the `result` line of the f4 transcript (both API calls of the turn).
const F4_OUTPUT_TOKENS: u64 = 30;

/// Nothing of the CLI's own bookkeeping may reach a client.
fn assert_no_leaks(body: &str, h: &Harness) {
    for leak in [
        "fake-session",
        "system/init",
        "\"tools\"",
        "mcp_servers",
        "slash_commands",
    ] {
        assert!(!body.contains(leak), "{leak} leaked: {body}");
    }
    assert!(
        !body.contains(h.dir.path().to_str().unwrap()),
        "cwd leaked: {body}"
    );
}

#[tokio::test]
async fn a_text_reply_as_one_message() {
    let h = Harness::new().await;
    let r = h.post("/sdk/v1/messages", &user("hello")).await;
    assert_eq!(r.status(), 200);
    let body = r.text().await.unwrap();
    assert_no_leaks(&body, &h);
    let message: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(message["type"], "message");
    assert!(message["id"].as_str().unwrap().starts_with("msg_"));
    assert_eq!(message["model"], "claude-opus-5-5");
    assert_eq!(message_text(&message), "hello from the");
    assert_eq!(message["stop_reason"], "end_turn");
    // Usage is the turn's total, from the `result` line.
    assert_eq!(message["usage"]["input_tokens"], 4);
    assert_eq!(message["usage"]["output_tokens"], 3);
    assert_eq!(message["usage"]["cache_creation_input_tokens"], 12131);
    // Today's fields, as the API sends them; no `citations` key on text blocks (the API omits
    // it when there are none, and strict clients reject `null` there).
    assert_eq!(message["stop_details"], Value::Null);
    assert!(message.as_object().unwrap().contains_key("stop_details"));
    assert!(message.as_object().unwrap().contains_key("container"));
    assert!(message["usage"]["output_tokens_details"]["thinking_tokens"].is_u64());
    assert_eq!(
        message["usage"]["server_tool_use"]["web_search_requests"],
        0
    );
    for block in message["content"].as_array().unwrap() {
        assert!(block.get("citations").is_none(), "{block}");
    }
}

#[tokio::test]
async fn a_stream_arrives_token_by_token() {
    let h = Harness::new().await;
    let mut body = user("hello");
    body["stream"] = json!(true);
    let r = h.post("/sdk/v1/messages", &body).await;
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/event-stream"));
    let text = r.text().await.unwrap();
    assert_no_leaks(&text, &h);
    assert!(!text.contains("[DONE]"));
    let events = sse_events(&text);
    let names: Vec<&str> = events.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names.first(), Some(&"message_start"));
    assert_eq!(&names[names.len() - 2..], ["message_delta", "message_stop"]);
    let deltas: Vec<&str> = events
        .iter()
        .filter(|(n, _)| n == "content_block_delta")
        .map(|(_, d)| d["delta"]["text"].as_str().unwrap())
        .collect();
    assert_eq!(deltas, ["hello", " from", " the"]);
    let (_, last_delta) = &events[events.len() - 2];
    assert_eq!(last_delta["usage"]["output_tokens"], 3);
    assert_eq!(last_delta["delta"]["stop_reason"], "end_turn");
}

#[tokio::test]
async fn the_clis_own_tool_use_is_shown_as_readable_text() {
    let h = Harness::new().await;
    for stream in [false, true] {
        let mut body = user("FAKE_TOOL please run echo hi");
        body["stream"] = json!(stream);
        let r = h.post("/sdk/v1/messages", &body).await;
        assert_eq!(r.status(), 200);
        let raw = r.text().await.unwrap();
        assert_no_leaks(&raw, &h);
        assert!(
            !raw.contains("\"tool_use\""),
            "no tool_use blocks reach the client: {raw}"
        );
        let message = if stream {
            // Rebuild the text from the stream.
            let events = sse_events(&raw);
            let text: String = events
                .iter()
                .filter(|(n, _)| n == "content_block_delta")
                .filter_map(|(_, d)| d["delta"]["text"].as_str())
                .collect();
            json!({"content": [{"type": "text", "text": text}]})
        } else {
            serde_json::from_str(&raw).unwrap()
        };
        let text = message_text(&message);
        assert!(text.starts_with("I'll run that command."), "{text}");
        assert!(text.contains("⏺ Bash({\"command\":\"echo hi\""), "{text}");
        assert!(text.contains("  ⎿ hi\n"), "{text}");
        assert!(text.ends_with("The tool returned: hi"), "{text}");
        if !stream {
            assert_eq!(message["stop_reason"], "end_turn");
            // Both API calls of the turn are counted.
            assert_eq!(message["usage"]["output_tokens"], F4_OUTPUT_TOKENS);
        }
    }
}

#[tokio::test]
async fn an_upstream_429_is_a_429_before_and_instead_of_a_stream() {
    let h = Harness::new().await;
    for stream in [false, true] {
        let mut body = user("FAKE_429");
        body["stream"] = json!(stream);
        let message = expect_error(
            h.post("/sdk/v1/messages", &body).await,
            429,
            "rate_limit_error",
        )
        .await;
        assert!(message.contains("rate limit"), "{message}");
    }
    let r = h
        .post(
            "/sdk/v1/chat/completions",
            &json!({"model": "gpt-4o", "messages": [{"role": "user", "content": "FAKE_429"}]}),
        )
        .await;
    assert_eq!(r.status(), 429);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["type"], "rate_limit_error", "{v}");
}

#[tokio::test]
async fn a_cli_error_result_is_a_500() {
    let h = Harness::new().await;
    let message = expect_error(
        h.post("/sdk/v1/messages", &user("FAKE_ERROR")).await,
        500,
        "api_error",
    )
    .await;
    assert!(message.contains("error_during_execution"), "{message}");
}

#[tokio::test]
async fn noise_long_lines_and_unknown_types_are_skipped() {
    let h = Harness::new().await;
    let r = h.post("/sdk/v1/messages", &user("FAKE_GARBAGE")).await;
    assert_eq!(r.status(), 200);
    let message: Value = r.json().await.unwrap();
    assert_eq!(message_text(&message), "hello from the");
}

#[tokio::test]
async fn a_crash_is_a_502_or_an_error_event_and_the_next_request_works() {
    let h = Harness::new().await;
    let message = expect_error(
        h.post("/sdk/v1/messages", &user("FAKE_CRASH")).await,
        502,
        "api_error",
    )
    .await;
    assert!(message.contains("exited"), "{message}");
    assert!(
        message.contains("crashing as asked"),
        "stderr is in the message: {message}"
    );
    let mut body = user("FAKE_CRASH");
    body["stream"] = json!(true);
    let r = h.post("/sdk/v1/messages", &body).await;
    assert_eq!(r.status(), 200, "the stream had started");
    let events = sse_events(&r.text().await.unwrap());
    assert_eq!(events.first().unwrap().0, "message_start");
    let (name, data) = events.last().unwrap();
    assert_eq!(name, "error");
    assert_eq!(data["error"]["type"], "api_error");
    let r = h.post("/sdk/v1/messages", &user("hello")).await;
    assert_eq!(r.status(), 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_client_that_disconnects_interrupts_the_turn() {
    let h = Harness::with(|c| c.claude.pool_size = 0).await;
    let mut body = user("FAKE_HANG");
    body["stream"] = json!(true);
    let mut r = h.post("/sdk/v1/messages", &body).await;
    assert_eq!(r.status(), 200);
    let first = r.chunk().await.unwrap().unwrap();
    assert!(String::from_utf8_lossy(&first).contains("message_start"));
    drop(r);
    eventually("the interrupt", || h.interrupted()).await;
    let pid = h.pids()[0];
    eventually("the CLI to stop", || !alive(pid)).await;
}

/// `/logs/query?mode=sdk` once it holds `n` rows (or after 5 s, for the assertions to show).
async fn sdk_rows(h: &Harness, n: usize) -> Value {
    let mut rows = Value::Null;
    for _ in 0..100 {
        rows = h.get_json("/logs/query?mode=sdk").await;
        if rows["data"].as_array().is_some_and(|i| i.len() >= n) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    rows
}

#[tokio::test(flavor = "multi_thread")]
async fn the_request_log_records_sdk_turns() {
    let h = Harness::new().await;
    let mut body = user("hello");
    body["stream"] = json!(true);
    let r = h.post("/sdk/v1/messages", &body).await;
    r.text().await.unwrap();
    let r = h.post("/sdk/v1/messages", &user("hello")).await;
    r.text().await.unwrap();
    let rows = sdk_rows(&h, 2).await;
    let items = rows["data"].as_array().unwrap_or_else(|| panic!("{rows}"));
    assert_eq!(items.len(), 2, "{rows}");
    for row in items {
        assert_eq!(row["mode"], "sdk");
        assert_eq!(row["route"], "/sdk/v1/messages");
        assert_eq!(row["model_requested"], "sonnet");
        assert_eq!(row["model_served"], "claude-opus-5-5");
        assert_eq!(row["input_tokens"], 4);
        assert_eq!(row["output_tokens"], 3);
        assert_eq!(row["cache_write_tokens"], 12131);
        assert_eq!(row["cli_cost_usd"], 0.060731);
    }
    let metrics = h.get_text("/metrics").await;
    assert!(
        metrics.contains(
            r#"ccproxy_requests_total{mode="sdk",surface="anthropic",route="/sdk/v1/messages""#
        ),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"ccproxy_tokens_total{mode="sdk""#),
        "{metrics}"
    );
    let summary = h.get_json("/logs/summary?window=1h").await;
    assert_eq!(summary["totals"]["requests"], 2, "{summary}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_clis_rate_limit_event_feeds_the_quota() {
    let h = Harness::new().await;
    let quota = || async {
        h.http
            .get(h.url("/api/quota"))
            .send()
            .await
            .unwrap()
            .json::<Value>()
            .await
            .unwrap()
    };
    let before = quota().await;
    let r = h.post("/sdk/v1/messages", &user("FAKE_QUOTA hello")).await;
    assert_eq!(r.status(), 200);
    r.text().await.unwrap();
    // The real CLI's `rate_limit_event` (transcript f3): 5 h at 2 %, 7 d at 1 %.
    let after = quota().await;
    assert_ne!(before, after, "{before} → {after}");
    let text = after.to_string();
    for expected in [
        "0.02",
        "0.01",
        "1795565951",
        "1796152751",
        "allowed",
        "five_hour",
    ] {
        assert!(text.contains(expected), "{expected} in {after}");
    }
    // And the request's own record carries it.
    let rows = sdk_rows(&h, 1).await;
    assert_eq!(rows["data"][0]["quota_5h_utilization"], 0.02, "{rows}");
    assert_eq!(rows["data"][0]["quota_7d_utilization"], 0.01, "{rows}");
    assert_eq!(rows["data"][0]["quota_status"], "allowed", "{rows}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_turn_billed_to_extra_usage_is_marked_and_blocks_the_next() {
    let h = Harness::new().await;
    let r = h.post("/sdk/v1/messages", &user("FAKE_QUOTA hello")).await;
    assert_eq!(
        r.headers()["x-ccproxy-billing"],
        "plan",
        "f3's reading: five_hour, allowed"
    );
    r.text().await.unwrap();
    let r = h
        .post("/sdk/v1/messages", &user("FAKE_EXTRA_USAGE hello"))
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-ccproxy-billing"], "extra_usage");
    r.text().await.unwrap();
    let lines = h.user_lines().len();
    // The next turn is refused before a CLI sees it, in the surface's shape.
    let r = h.post("/sdk/v1/messages", &user("hello")).await;
    assert_eq!(r.status(), 429);
    assert!(r.headers().contains_key("retry-after"));
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["type"], "rate_limit_error", "{v}");
    assert!(v["error"]["message"]
        .as_str()
        .unwrap()
        .contains("extra usage"));
    assert_eq!(h.user_lines().len(), lines, "no CLI got the turn");
    let rows = sdk_rows(&h, 3).await;
    let buckets: Vec<&str> = rows["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["billing"].as_str().unwrap())
        .collect();
    assert_eq!(buckets, ["unknown", "extra_usage", "plan"], "{rows}");
}
