//! The client's own tools in Claude Code mode, with `fake-claude` playing the CLI's side of the
//! MCP control protocol (`FAKE_CLIENT_TOOL`): the call ends the response, the result resumes the
//! same turn, and every way a follow-up can fail to continue it starts fresh or frees the slot.
//! The real CLI runs the same loops in `ccproxy-cli/tests/cli/clients.rs`.

use super::*;

fn weather_tool() -> Value {
    json!({"name": "get_weather", "description": "Get the current weather for a location.",
           "input_schema": {"type": "object", "properties": {"location": {"type": "string"}}, "required": ["location"]}})
}

fn with_tools(text: &str) -> Value {
    let mut body = user(text);
    body["tools"] = json!([weather_tool()]);
    body
}

/// The follow-up of `first` (the request) and `answer` (its tool_use response): the history,
/// the assistant message as returned, and a result for each call.
fn follow_up(first: &Value, answer: &Value, result: &str) -> Value {
    let mut body = first.clone();
    let calls: Vec<Value> = answer["content"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|b| b["type"] == "tool_use")
        .map(|b| json!({"type": "tool_result", "tool_use_id": b["id"], "content": result}))
        .collect();
    let messages = body["messages"].as_array_mut().unwrap();
    messages.push(json!({"role": "assistant", "content": answer["content"]}));
    messages.push(json!({"role": "user", "content": calls}));
    body
}

async fn waiting(h: &Harness) -> u64 {
    h.get_json("/sdk/status").await["pool"]["waiting_for_tool_results"]
        .as_u64()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_tool_call_ends_the_response_and_its_result_resumes_the_same_turn() {
    let h = Harness::new().await;
    let first = with_tools("FAKE_CLIENT_TOOL What is the weather in Paris?");
    let r = h.post("/sdk/v1/messages", &first).await;
    assert_eq!(r.status(), 200);
    let answer: Value = r.json().await.unwrap();
    assert_eq!(answer["stop_reason"], "tool_use", "{answer}");
    let call = &answer["content"][0];
    assert_eq!(call["type"], "tool_use", "{answer}");
    assert_eq!(
        call["name"], "get_weather",
        "the client's name, no MCP prefix"
    );
    assert_eq!(call["input"], json!({"location": "Paris"}));
    assert!(call["id"].as_str().unwrap().starts_with("toolu_"));
    assert_eq!(answer["usage"]["output_tokens"], 9, "{answer}");
    assert_eq!(waiting(&h).await, 1);

    // The CLI was given the tools over MCP, and only them.
    let log = h.log();
    let listed = log.iter().find_map(|e| e.get("tools_list")).unwrap();
    assert_eq!(
        listed,
        &json!([{"name": "get_weather", "description": "Get the current weather for a location.",
                 "inputSchema": {"type": "object", "properties": {"location": {"type": "string"}}, "required": ["location"]}}])
    );
    let spawn = log
        .iter()
        .find(|e| e["argv"].to_string().contains("mcpServers"))
        .unwrap();
    let argv: Vec<&str> = spawn["argv"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    let after = |flag: &str| argv[argv.iter().position(|a| *a == flag).unwrap() + 1];
    assert_eq!(after("--tools"), "", "no built-in tools: {argv:?}");
    assert!(after("--allowedTools")
        .split(',')
        .any(|t| t == "mcp__client"));
    assert_eq!(spawn["no_prefix"], "1");
    assert_eq!(spawn["tool_search"], "false");
    assert_eq!(spawn["mcp_tool_timeout"], "360000");

    let second = follow_up(&first, &answer, "Sunny, 21 C");
    let r = h.post("/sdk/v1/messages", &second).await;
    assert_eq!(r.status(), 200);
    let done: Value = r.json().await.unwrap();
    assert_eq!(
        message_text(&done),
        "The tool returned: Sunny, 21 C",
        "{done}"
    );
    assert_eq!(done["stop_reason"], "end_turn");
    // The turn's total minus what the first response reported.
    assert_eq!(done["usage"]["output_tokens"], 6, "{done}");
    assert_ne!(done["id"], answer["id"]);
    // The same process went on: one user turn was ever sent, and the call got the result.
    assert_eq!(h.user_lines().len(), 1);
    let answered = h
        .log()
        .into_iter()
        .find_map(|e| e.get("tool_answer").cloned())
        .unwrap();
    assert_eq!(
        answered["result"],
        json!({"content": [{"type": "text", "text": "Sunny, 21 C"}], "isError": false})
    );
    assert_eq!(waiting(&h).await, 0);

    // Both requests are one turn in the request log.
    let mut rows = Value::Null;
    for _ in 0..200 {
        rows = h.get_json("/logs/query?mode=sdk").await;
        if rows["data"].as_array().is_some_and(|d| d.len() >= 2) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let data = rows["data"].as_array().unwrap();
    assert_eq!(data.len(), 2, "{rows}");
    let turn = data[0]["turn_id"].as_str().unwrap();
    assert!(turn.starts_with("turn_"));
    assert_eq!(data[1]["turn_id"], turn);
    assert_eq!(
        data[0]["cli_cost_usd"], 0.02,
        "the turn's cost on its last request"
    );
    assert!(data[1]["cli_cost_usd"].is_null());
    let one = h.get_json(&format!("/logs/query?turn={turn}")).await;
    assert_eq!(one["data"].as_array().unwrap().len(), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_streamed_tool_call_and_its_continuation_in_a_session() {
    let h = Harness::new().await;
    let mut first = with_tools("FAKE_CLIENT_TOOL What is the weather in Paris?");
    first["stream"] = json!(true);
    let r = h.post("/sdk/s1/v1/messages", &first).await;
    assert_eq!(r.status(), 200);
    let events = sse_events(&r.text().await.unwrap());
    let names: Vec<&str> = events.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "message_start",
            "content_block_start",
            "content_block_delta",
            "content_block_stop",
            "message_delta",
            "message_stop"
        ]
    );
    assert_eq!(events[1].1["content_block"]["type"], "tool_use");
    assert_eq!(events[2].1["delta"]["type"], "input_json_delta");
    assert_eq!(events[4].1["delta"]["stop_reason"], "tool_use");
    let answer = json!({"content": [{
        "type": "tool_use", "id": events[1].1["content_block"]["id"], "name": "get_weather",
        "input": serde_json::from_str::<Value>(events[2].1["delta"]["partial_json"].as_str().unwrap()).unwrap()
    }]});
    let second = follow_up(&first, &answer, "Rain");
    // The session's process is the waiting one: the follow-up goes on with it.
    let r = h.post("/sdk/s1/v1/messages", &second).await;
    assert_eq!(r.status(), 200);
    let body = r.text().await.unwrap();
    let text: String = sse_events(&body)
        .iter()
        .filter_map(|(_, e)| e["delta"]["text"].as_str().map(String::from))
        .collect();
    assert_eq!(text, "The tool returned: Rain");
    assert_eq!(h.user_lines().len(), 1);
    // And the session goes on with its next message.
    let mut third = second.clone();
    third["messages"].as_array_mut().unwrap().extend([
        json!({"role": "assistant", "content": text}),
        json!({"role": "user", "content": "thanks"}),
    ]);
    let r = h.post("/sdk/s1/v1/messages", &third).await;
    assert_eq!(r.status(), 200);
    let lines = h.user_lines();
    assert_eq!(lines.len(), 2);
    assert_eq!(
        lines[1]["message"]["content"], "thanks",
        "only the new message"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_follow_up_that_does_not_continue_the_turn_starts_fresh() {
    // One process per turn, so the log's order of starts is the turns' order.
    let h = Harness::with(|c| c.claude.pool_size = 0).await;
    let first = with_tools("FAKE_CLIENT_TOOL What is the weather in Paris?");
    let answer: Value = h
        .post("/sdk/v1/messages", &first)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(answer["stop_reason"], "tool_use");
    // Results for other ids: a new turn with the whole conversation, written out.
    let mut wrong = follow_up(&first, &answer, "Sunny");
    wrong["messages"][1]["content"][0]["id"] = json!("toolu_someone_else");
    wrong["messages"][2]["content"][0]["tool_use_id"] = json!("toolu_someone_else");
    let r = h.post("/sdk/v1/messages", &wrong).await;
    assert_eq!(r.status(), 200);
    let lines = h.user_lines();
    assert_eq!(lines.len(), 2, "a fresh turn");
    let sent = lines[1]["message"]["content"].to_string();
    assert!(
        sent.contains("<conversation>") && sent.contains("⎿ Sunny"),
        "{sent}"
    );
    assert!(!sent.contains("\"tool_result\""), "{sent}");
    // The same ids with another history: fresh too, and the waiting turn is stopped.
    let answer2: Value = r.json().await.unwrap();
    assert_eq!(answer2["stop_reason"], "tool_use");
    let mut changed = follow_up(&first, &answer2, "Sunny");
    changed["messages"][0]["content"] = json!("FAKE_CLIENT_TOOL something else entirely");
    let r = h.post("/sdk/v1/messages", &changed).await;
    assert_eq!(r.status(), 200);
    assert_eq!(h.user_lines().len(), 3);
    // The second turn was stopped: its calls were answered in another conversation. The first
    // still waits (nobody answered it) until its time-out.
    let pids = h.pids();
    assert_eq!(pids.len(), 3, "{pids:?}");
    eventually("the superseded turn to stop", || !alive(pids[1])).await;
    assert!(alive(pids[0]));
    assert_eq!(waiting(&h).await, 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_result_that_never_comes_frees_the_slot_after_the_time_out() {
    let h = Harness::with(|c| {
        c.claude.tool_result_timeout_secs = 1;
        c.claude.pool_size = 0;
    })
    .await;
    let r = h
        .post(
            "/sdk/v1/messages",
            &with_tools("FAKE_CLIENT_TOOL What is the weather in Paris?"),
        )
        .await;
    let answer: Value = r.json().await.unwrap();
    assert_eq!(answer["stop_reason"], "tool_use");
    let pid = h.pids()[0];
    let status = h.get_json("/sdk/status").await;
    assert_eq!(status["pool"]["running"], 1, "{status}");
    let pool = h
        .pool_when(|p| p["waiting_for_tool_results"] == 0 && p["running"] == 0)
        .await;
    assert_eq!(pool["waiting_for_tool_results"], 0, "{pool}");
    assert_eq!(pool["running"], 0, "{pool}");
    eventually("the waiting CLI to stop", || !alive(pid)).await;
    // The interrupt cancelled the pending call.
    assert!(h.interrupted());
    // A late follow-up starts fresh.
    let first = with_tools("FAKE_CLIENT_TOOL What is the weather in Paris?");
    let r = h
        .post("/sdk/v1/messages", &follow_up(&first, &answer, "late"))
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(h.user_lines().len(), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_client_that_disconnects_from_the_continuation_interrupts_it_and_frees_the_slot() {
    let h = Harness::with(|c| c.claude.pool_size = 0).await;
    let first = with_tools("FAKE_CLIENT_TOOL What is the weather in Paris?");
    let answer: Value = h
        .post("/sdk/v1/messages", &first)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(answer["stop_reason"], "tool_use", "{answer}");
    let pid = h.pids()[0];
    // The result resumes the turn, which the CLI then keeps going until it is interrupted.
    let mut second = follow_up(&first, &answer, "FAKE_HANG");
    second["stream"] = json!(true);
    let mut r = h.post("/sdk/v1/messages", &second).await;
    assert_eq!(r.status(), 200);
    let mut seen = String::new();
    while !seen.contains("Still thinking") {
        let chunk = r
            .chunk()
            .await
            .unwrap()
            .expect("the continuation's first text");
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert_eq!(h.pids(), [pid], "the same process continued");
    assert_eq!(waiting(&h).await, 0);
    drop(r);
    eventually("the interrupt", || h.interrupted()).await;
    eventually("the CLI to stop", || !alive(pid)).await;
    let pool = h.pool_when(|p| p["running"] == 0).await;
    assert_eq!(pool["running"], 0, "the slot is free: {pool}");
    assert_eq!(pool["waiting_for_tool_results"], 0, "{pool}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cli_that_dies_while_waiting_means_a_fresh_start() {
    let h = Harness::with(|c| c.claude.pool_size = 0).await;
    let first = with_tools("FAKE_CLIENT_TOOL_CRASH What is the weather in Paris?");
    let answer: Value = h
        .post("/sdk/v1/messages", &first)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(answer["stop_reason"], "tool_use", "{answer}");
    let pid = h.pids()[0];
    eventually("the CLI to crash", || !alive(pid)).await;
    let mut second = follow_up(&first, &answer, "Sunny");
    second["messages"][0]["content"] = json!("FAKE_CLIENT_TOOL What is the weather in Paris?");
    let r = h.post("/sdk/v1/messages", &second).await;
    assert_eq!(r.status(), 200);
    assert_eq!(h.user_lines().len(), 2, "a fresh turn");
}

#[tokio::test(flavor = "multi_thread")]
async fn openai_chat_and_responses_tool_loops() {
    let h = Harness::new().await;
    let function = json!({"type": "function", "function": {"name": "get_weather", "description": "Weather.",
        "parameters": {"type": "object", "properties": {"location": {"type": "string"}}, "required": ["location"]}}});
    let mut chat = json!({"model": "gpt-4o", "tools": [function],
        "messages": [{"role": "user", "content": "FAKE_CLIENT_TOOL weather in Paris?"}]});
    let v: Value = h
        .post("/sdk/v1/chat/completions", &chat)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(v["choices"][0]["finish_reason"], "tool_calls", "{v}");
    let call = &v["choices"][0]["message"]["tool_calls"][0];
    assert_eq!(call["function"]["name"], "get_weather");
    assert_eq!(call["function"]["arguments"], r#"{"location":"Paris"}"#);
    let messages = chat["messages"].as_array_mut().unwrap();
    messages.push(v["choices"][0]["message"].clone());
    messages.push(json!({"role": "tool", "tool_call_id": call["id"], "content": "Cloudy"}));
    let v: Value = h
        .post("/sdk/v1/chat/completions", &chat)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        v["choices"][0]["message"]["content"], "The tool returned: Cloudy",
        "{v}"
    );
    assert_eq!(h.user_lines().len(), 1);

    let tool = json!({"type": "function", "name": "get_weather", "description": "Weather.",
        "parameters": {"type": "object", "properties": {"location": {"type": "string"}}, "required": ["location"]}});
    let input = json!([{"role": "user", "content": "FAKE_CLIENT_TOOL weather in Paris?"}]);
    let v: Value = h
        .post(
            "/sdk/v1/responses",
            &json!({"model": "gpt-4o", "tools": [tool], "input": input, "store": false}),
        )
        .await
        .json()
        .await
        .unwrap();
    let call = v["output"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["type"] == "function_call")
        .unwrap()
        .clone();
    assert_eq!(call["name"], "get_weather", "{v}");
    let mut items = input.as_array().unwrap().clone();
    items.push(call.clone());
    items.push(
        json!({"type": "function_call_output", "call_id": call["call_id"], "output": "Windy"}),
    );
    let v: Value = h
        .post(
            "/sdk/v1/responses",
            &json!({"model": "gpt-4o", "tools": [tool], "input": items, "store": false}),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        v["output"][0]["content"][0]["text"], "The tool returned: Windy",
        "{v}"
    );
    assert_eq!(h.user_lines().len(), 2);
}

#[tokio::test]
async fn what_the_cli_cannot_do_with_tools_is_refused_by_name() {
    let h = Harness::new().await;
    for (choice, word) in [
        (json!({"type": "any"}), "tool_choice"),
        (
            json!({"type": "tool", "name": "get_weather"}),
            "tool_choice",
        ),
    ] {
        let mut body = with_tools("hi");
        body["tool_choice"] = choice;
        let message = expect_error(
            h.post("/sdk/v1/messages", &body).await,
            400,
            "invalid_request_error",
        )
        .await;
        assert!(message.contains(word), "{message}");
    }
    let mut body = user("hi");
    body["tools"] = json!([{"type": "web_search_20250305", "name": "web_search"}]);
    let message = expect_error(
        h.post("/sdk/v1/messages", &body).await,
        400,
        "invalid_request_error",
    )
    .await;
    assert!(message.contains("tools.0.type"), "{message}");
    assert!(h.user_lines().is_empty());
    // No tools at all (the OpenAI Agents SDK always sends `tools: []`), and `none`: a plain turn
    // on a process without the client's server.
    let mut body = user("hi");
    body["tools"] = json!([]);
    assert_eq!(h.post("/sdk/v1/messages", &body).await.status(), 200);
    let mut body = with_tools("hi");
    body["tool_choice"] = json!({"type": "none"});
    assert_eq!(h.post("/sdk/v1/messages", &body).await.status(), 200);
    assert!(h
        .log()
        .iter()
        .filter(|e| e.get("argv").is_some())
        .all(|e| !e["argv"].to_string().contains("mcpServers")));
}
