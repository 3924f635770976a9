//! The OpenAI surface of API mode: Chat Completions translated to the Messages API and back.

use super::*;

fn chat(h: &Harness, body: Value) -> reqwest::RequestBuilder {
    h.http.post(h.url("/api/v1/chat/completions")).json(&body)
}

#[tokio::test]
async fn chat_completion_round_trip() {
    let h = Harness::new().await;
    let r = chat(&h, json!({
        "model": "gpt-4o",
        "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi"}],
        "seed": 1, "store": false
    }))
    .header("openai-organization", "org-x")
    .send()
    .await
    .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-ccproxy-ignored-params"], "seed, store");
    assert_eq!(r.headers()["request-id"], "req_mock_1");
    assert_eq!(
        r.headers()["anthropic-ratelimit-unified-5h-utilization"],
        "0.25"
    );
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["object"], "chat.completion");
    assert_eq!(v["model"], "gpt-4o");
    assert!(v["id"].as_str().unwrap().starts_with("chatcmpl-"));
    assert_eq!(v["choices"][0]["message"]["content"], "x".repeat(64));
    assert_eq!(v["choices"][0]["finish_reason"], "stop");
    assert_eq!(v["usage"]["total_tokens"], 18);

    let sent = &h.mock.requests()[0];
    assert_eq!(sent.uri, "/v1/messages");
    assert_eq!(sent.header("authorization"), "Bearer access-1");
    assert!(sent.headers.get("openai-organization").is_none());
    assert_eq!(
        body_json(&sent.body),
        json!({
            "model": "claude-sonnet-4-20250514",
            "max_tokens": 8192,
            "system": [{"type": "text", "text": IDENTITY}, {"type": "text", "text": "Be brief."}],
            "messages": [{"role": "user", "content": "hi"}]
        })
    );
}

#[tokio::test]
async fn streamed_tool_calls_arrive_incrementally_with_done() {
    let h = Harness::new().await;
    let r = h
        .http
        .post(h.url("/api/chat/completions"))
        .header("x-mock", "tools")
        .json(
            &json!({"model": "gpt-4o", "stream": true, "stream_options": {"include_usage": true},
                      "messages": [{"role": "user", "content": "weather?"}],
                      "tools": [{"type": "function", "function": {"name": "weather"}}]}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/event-stream"));
    let text = r.text().await.unwrap();
    assert!(text.ends_with("data: [DONE]\n\n"), "{text}");
    let chunks: Vec<Value> = text
        .split("\n\n")
        .filter_map(|f| f.strip_prefix("data: "))
        .filter(|d| *d != "[DONE]")
        .map(|d| serde_json::from_str(d).unwrap())
        .collect();
    let content: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(content, "I'll check both cities.");
    let args_1: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["tool_calls"][0].as_object())
        .filter(|t| t["index"] == 1)
        .filter_map(|t| t["function"]["arguments"].as_str())
        .collect();
    assert_eq!(args_1, r#"{"city":"Oslo","units":"celsius"}"#);
    let argument_chunks = chunks
        .iter()
        .filter(|c| {
            c["choices"][0]["delta"]["tool_calls"][0]["function"]["arguments"]
                .as_str()
                .is_some_and(|a| !a.is_empty())
        })
        .count();
    assert!(
        argument_chunks > 4,
        "arguments are streamed in pieces, not at the end"
    );
    let finish: Vec<_> = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["finish_reason"].as_str())
        .collect();
    assert_eq!(finish, ["tool_calls"]);
    assert_eq!(chunks.last().unwrap()["usage"]["prompt_tokens"], 24);
    assert_eq!(
        chunks.last().unwrap()["usage"]["prompt_tokens_details"]["cached_tokens"],
        4
    );
}

#[tokio::test]
async fn thinking_is_reasoning_content() {
    let h = Harness::new().await;
    let v: Value = chat(
        &h,
        json!({"model": "o3", "messages": [{"role": "user", "content": "hi"}]}),
    )
    .header("x-mock", "thinking")
    .send()
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert_eq!(v["model"], "o3");
    assert_eq!(
        v["choices"][0]["message"]["reasoning_content"],
        "The user wants a greeting."
    );
    assert_eq!(v["choices"][0]["message"]["content"], "Hello!");
    let sent = body_json(&h.mock.requests()[0].body);
    assert_eq!(sent["model"], "claude-opus-4-20250514");
    assert_eq!(sent["thinking"]["type"], "enabled");
}

#[tokio::test]
async fn upstream_errors_come_back_in_openai_shape() {
    let h = Harness::new().await;
    let r = chat(
        &h,
        json!({"model": "gpt-4o", "messages": [{"role": "user", "content": "x"}]}),
    )
    .header("x-mock", "error-429")
    .send()
    .await
    .unwrap();
    assert_eq!(r.status(), 429);
    assert_eq!(r.headers()["retry-after"], "7");
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["type"], "rate_limit_error");
    assert_eq!(v["error"]["message"], "slow down");

    let r = chat(
        &h,
        json!({"model": "gpt-4o", "stream": true, "messages": [{"role": "user", "content": "x"}]}),
    )
    .header("x-mock", "stream-break")
    .send()
    .await
    .unwrap();
    let text = r.text().await.unwrap();
    assert!(text.contains("\"code\":\"stream_interrupted\""), "{text}");
    assert!(text.ends_with("data: [DONE]\n\n"));
}

#[tokio::test]
async fn bad_requests_are_400_in_openai_shape_and_nothing_is_sent() {
    let h = Harness::with(|c| c.server.max_body_bytes = 4096).await;
    let cases: [(&str, Option<&str>); 5] = [
        ("not json", None),
        (
            r#"{"model":"m","max_tokens":16,"messages":[{"role":"robot","content":"x"}]}"#,
            Some("messages[0].role"),
        ),
        (
            r#"{"model":"m","max_tokens":16,"messages":[{"role":"user","content":"x"}],"n":2}"#,
            Some("n"),
        ),
        (
            r#"{"model":"m","max_tokens":16,"messages":[{"role":"user","content":"x"},{"role":"tool","tool_call_id":"c9","content":"r"}]}"#,
            Some("messages[1].tool_call_id"),
        ),
        (r#"{"messages":[]}"#, Some("model")),
    ];
    for (body, param) in cases {
        let r = h
            .http
            .post(h.url("/api/v1/chat/completions"))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "{body}");
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["error"]["type"], "invalid_request_error", "{v}");
        assert_eq!(v["error"]["param"].as_str(), param, "{v}");
        assert!(v.get("type").is_none(), "OpenAI shape, not Anthropic's");
    }
    let r = chat(
        &h,
        json!({"model": "m", "messages": [{"role": "user", "content": "x".repeat(5000)}]}),
    )
    .send()
    .await
    .unwrap();
    assert_eq!(r.status(), 413);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], "request_too_large");
    assert!(h.mock.requests().is_empty());
}

#[tokio::test]
async fn single_models_by_id() {
    let h = Harness::new().await;
    let v = h.get_json("/api/v1/models/claude-sonnet-4-20250514").await;
    assert_eq!(v["id"], "claude-sonnet-4-20250514");
    assert_eq!(v["object"], "model");
    let r = h
        .http
        .get(h.url("/api/models/gpt-4o"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = h
        .http
        .get(h.url("/api/v1/models/nope"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"]["code"],
        "not_found"
    );
    let r = h
        .http
        .get(h.url("/api/v1/models/nope"))
        .header("anthropic-version", "2023-06-01")
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"]["type"],
        "not_found_error"
    );
}

#[tokio::test]
async fn responses_api_round_trip_and_stream() {
    let h = Harness::new().await;
    let v: Value = h
        .http
        .post(h.url("/api/v1/responses"))
        .json(&json!({"model": "gpt-4o", "input": "hi", "instructions": "Be brief."}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["object"], "response");
    assert!(v["id"].as_str().unwrap().starts_with("resp_"));
    assert_eq!(v["output"][0]["type"], "message");
    assert_eq!(v["output"][0]["content"][0]["text"], "x".repeat(64));
    assert_eq!(v["instructions"], "Be brief.");
    let sent = body_json(&h.mock.requests()[0].body);
    assert_eq!(sent["system"][1]["text"], "Be brief.");

    let r = h
        .http
        .post(h.url("/api/responses"))
        .header("x-mock", "tools")
        .json(&json!({"model": "gpt-4o", "input": "weather?", "stream": true,
                      "tools": [{"type": "function", "name": "weather", "parameters": {"type": "object"}}]}))
        .send()
        .await
        .unwrap();
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/event-stream"));
    let text = r.text().await.unwrap();
    assert!(
        text.starts_with("event: response.created\ndata: {"),
        "{text}"
    );
    assert!(!text.contains("[DONE]"));
    let last = text.trim_end().rsplit("\n\n").next().unwrap();
    assert!(last.starts_with("event: response.completed\n"), "{last}");
    let data: Value = serde_json::from_str(last.split_once("data: ").unwrap().1).unwrap();
    let calls: Vec<_> = data["response"]["output"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o["type"] == "function_call")
        .map(|o| o["call_id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(calls, ["toolu_01", "toolu_02"]);

    let r = h
        .http
        .post(h.url("/api/v1/responses"))
        .header("x-mock", "stream-break")
        .json(&json!({"model": "gpt-4o", "input": "x", "stream": true}))
        .send()
        .await
        .unwrap();
    let text = r.text().await.unwrap();
    assert!(
        text.contains("event: error\n") && text.contains("event: response.failed\n"),
        "{text}"
    );
}

/// A path under an OpenAI endpoint that no route serves is a 404 in OpenAI's shape (it was
/// answered in Anthropic's).
#[tokio::test]
async fn unknown_openai_sub_paths_are_404_in_openai_shape() {
    let h = Harness::new().await;
    for path in [
        "/api/v1/responses/compact",
        "/api/v1/responses/input_tokens",
        "/sdk/v1/chat/completions/x",
    ] {
        let r = h.post(path, "{}").send().await.unwrap();
        assert_eq!(r.status(), 404, "{path}");
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["error"]["code"], "not_found", "{path}: {v}");
        assert!(v.get("type").is_none(), "{path}: {v}");
    }
    // A kept response's input items are read with GET: another method is a 405, in OpenAI's
    // shape too.
    let r = h
        .post("/api/v1/responses/resp_1/input_items", "{}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 405);
    let v: Value = r.json().await.unwrap();
    assert!(
        v["error"]["message"].is_string() && v.get("type").is_none(),
        "{v}"
    );
}

/// An upstream event that cannot be decoded ends the translated stream with the surface's error
/// (it was skipped, and the stream then reported success: `finish_reason: "stop"`,
/// `response.completed`).
#[tokio::test]
async fn an_undecodable_upstream_event_ends_the_stream_with_an_error() {
    let h = Harness::new().await;
    let body =
        json!({"model": "gpt-4o", "stream": true, "messages": [{"role": "user", "content": "x"}]});
    let text = chat(&h, body)
        .header("x-mock", "garbage-event")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(text.contains("\"code\":\"stream_interrupted\""), "{text}");
    assert!(!text.contains("\"finish_reason\":\"stop\""), "{text}");
    assert!(text.ends_with("data: [DONE]\n\n"), "{text}");

    let body = json!({"model": "gpt-4o", "stream": true, "input": "x"});
    let text = h
        .post("/api/v1/responses", body.to_string())
        .header("content-type", "application/json")
        .header("x-mock", "garbage-event")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(text.contains("event: response.failed"), "{text}");
    assert!(!text.contains("event: response.completed"), "{text}");
}

/// Codex CLI's default request shape on `/api/v1/responses`: function tools, an MCP server's
/// tools grouped in a `namespace` (one named with a dot, which upstream refuses in a tool name),
/// and hosted tools. It is answered (it was a 400), upstream sees only valid flat function tools
/// (the mock refuses others, as the real API does), the hosted ones are reported, and Claude's
/// calls come back with their namespace and own name.
#[tokio::test]
async fn codex_tools_reach_claude_and_come_back_namespaced() {
    let h = Harness::new().await;
    let r = h
        .http
        .post(h.url("/api/v1/responses"))
        .header("x-mock", "tools")
        .json(&json!({
            "model": "gpt-4o",
            "input": [{"type": "message", "role": "user", "content": [{"type": "input_text", "text": "weather?"}]}],
            "tools": [
                {"type": "function", "name": "shell", "strict": false, "parameters": {"type": "object"}},
                {"type": "namespace", "name": "mcp__wx__", "description": "Weather server", "tools": [
                    {"type": "function", "name": "weather", "strict": false, "parameters": {"type": "object"}},
                    {"type": "function", "name": "radar.map", "strict": false, "parameters": {"type": "object"}},
                ]},
                {"type": "web_search", "external_web_access": false},
            ],
            "tool_choice": "auto",
            "parallel_tool_calls": true,
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let ignored = r.headers()["x-ccproxy-ignored-params"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(ignored.contains("`web_search` tool"), "{ignored}");
    let v: Value = r.json().await.unwrap();
    let sent = body_json(&h.mock.requests()[0].body);
    let names: Vec<&str> = sent["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["shell", "mcp__wx__weather", "mcp__wx__radar_map"]);
    let calls: Vec<&Value> = v["output"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o["type"] == "function_call")
        .collect();
    assert_eq!(calls.len(), 2, "{v}");
    assert_eq!(calls[0]["name"], "weather");
    assert_eq!(calls[0]["namespace"], "mcp__wx__");

    // The mock refuses what upstream refuses: a dotted tool name sent as it is.
    let r = h
        .http
        .post(h.url("/api/v1/messages"))
        .json(
            &json!({"model": "claude-sonnet-4-20250514", "max_tokens": 5,
            "messages": [{"role": "user", "content": "hi"}],
            "tools": [{"name": "radar.map", "input_schema": {"type": "object"}}]}),
        )
        .send()
        .await
        .unwrap();
    expect_error(r, 400, "invalid_request_error").await;
}

/// Thinking plus tool calls across turns (the mock enforces upstream's rule: with thinking on,
/// the assistant turn whose tool results end the conversation starts with its thinking block,
/// unchanged). Responses: the reasoning item's `encrypted_content` brings the block back; without
/// it, thinking is turned off for that request and reported. Chat Completions: the message's
/// `thinking_blocks` do the same.
#[tokio::test]
async fn thinking_survives_a_tool_round_trip() {
    let h = Harness::new().await;
    let tools = json!([{"type": "function", "name": "weather", "parameters": {"type": "object"}}]);
    let first: Value = h
        .http
        .post(h.url("/api/v1/responses"))
        .header("x-mock", "tools")
        .json(
            &json!({"model": "gpt-4o", "input": "weather?", "tools": tools,
            "reasoning": {"effort": "high"}, "include": ["reasoning.encrypted_content"]}),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let output = first["output"].as_array().unwrap().clone();
    assert_eq!(output[0]["type"], "reasoning", "{first}");
    assert!(output[0]["encrypted_content"].is_string(), "{first}");
    // As Codex sends it back: the output items as they came, then the calls' outputs.
    let mut input = vec![json!({"role": "user", "content": "weather?"})];
    input.extend(output.iter().cloned());
    for item in output.iter().filter(|i| i["type"] == "function_call") {
        input.push(
            json!({"type": "function_call_output", "call_id": item["call_id"], "output": "sunny"}),
        );
    }
    let follow = |input: Vec<Value>| {
        h.http.post(h.url("/api/v1/responses")).json(&json!({
            "model": "gpt-4o", "input": input, "tools": tools, "reasoning": {"effort": "high"}}))
    };
    let r = follow(input.clone()).send().await.unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let sent = body_json(&h.mock.requests().last().unwrap().body);
    assert_eq!(sent["thinking"]["type"], "enabled", "{sent}");
    assert_eq!(sent["messages"][1]["content"][0]["type"], "thinking");

    let without: Vec<Value> = input
        .into_iter()
        .filter(|i| i["type"] != "reasoning")
        .collect();
    let r = follow(without).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let ignored = r.headers()["x-ccproxy-ignored-params"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        ignored.contains("reasoning_effort (the tool calls being answered"),
        "{ignored}"
    );
    assert!(body_json(&h.mock.requests().last().unwrap().body)
        .get("thinking")
        .is_none());

    // Chat Completions.
    let chat_tools = json!([{"type": "function", "function": {"name": "weather", "parameters": {"type": "object"}}}]);
    let first: Value = h
        .http
        .post(h.url("/api/v1/chat/completions"))
        .header("x-mock", "tools")
        .json(
            &json!({"model": "gpt-4o", "messages": [{"role": "user", "content": "weather?"}],
            "tools": chat_tools, "reasoning_effort": "high"}),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let message = first["choices"][0]["message"].clone();
    assert_eq!(message["thinking_blocks"][0]["type"], "thinking", "{first}");
    let mut messages = vec![
        json!({"role": "user", "content": "weather?"}),
        message.clone(),
    ];
    for call in message["tool_calls"].as_array().unwrap() {
        messages.push(json!({"role": "tool", "tool_call_id": call["id"], "content": "sunny"}));
    }
    let r = h
        .http
        .post(h.url("/api/v1/chat/completions"))
        .json(&json!({"model": "gpt-4o", "messages": messages, "tools": chat_tools, "reasoning_effort": "high"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    assert_eq!(
        body_json(&h.mock.requests().last().unwrap().body)["thinking"]["type"],
        "enabled"
    );
}

/// Stateless Responses clients that use ids: an answer is kept (streamed or not) unless
/// `store: false`, can be fetched, listed and deleted, continued with `previous_response_id`,
/// and its items referenced with `item_reference`; an unknown id is a 404 in OpenAI's shape
/// naming it; another credential sees nothing.
#[tokio::test]
async fn responses_are_kept_for_clients_that_use_ids() {
    let h = Harness::new().await;
    let post = |body: Value| h.http.post(h.url("/api/v1/responses")).json(&body);
    let first: Value = post(json!({"model": "gpt-4o", "input": "hi"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = first["id"].as_str().unwrap().to_string();
    assert_eq!(first["store"], true);
    let fetched: Value = h.get_json(&format!("/api/v1/responses/{id}")).await;
    assert_eq!(fetched, first);
    let items: Value = h
        .get_json(&format!("/api/v1/responses/{id}/input_items"))
        .await;
    assert_eq!(items["data"][0]["content"][0]["text"], "hi", "{items}");

    let r = post(json!({"model": "gpt-4o", "previous_response_id": id, "input": "again"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers().get("x-ccproxy-ignored-params").is_none());
    let second: Value = r.json().await.unwrap();
    assert_eq!(second["previous_response_id"], id.as_str());
    let sent = body_json(&h.mock.requests().last().unwrap().body);
    let roles: Vec<&str> = sent["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["role"].as_str().unwrap())
        .collect();
    assert_eq!(roles, ["user", "assistant", "user"], "{sent}");

    let message_id = first["output"][0]["id"].as_str().unwrap();
    let r = post(json!({"model": "gpt-4o", "stream": true, "input": [
        {"role": "user", "content": "hi"},
        {"type": "item_reference", "id": message_id},
        {"role": "user", "content": "and now?"},
    ]}))
    .send()
    .await
    .unwrap();
    assert_eq!(r.status(), 200);
    let text = r.text().await.unwrap();
    let sent = body_json(&h.mock.requests().last().unwrap().body);
    assert_eq!(sent["messages"][1]["role"], "assistant", "{sent}");
    let streamed_id = text
        .split("\"id\":\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap()
        .to_string();
    assert!(streamed_id.starts_with("resp_"), "{streamed_id}");
    let kept: Value = h
        .get_json(&format!("/api/v1/responses/{streamed_id}"))
        .await;
    assert_eq!(kept["status"], "completed", "a streamed answer is kept too");

    for body in [
        json!({"model": "gpt-4o", "previous_response_id": "resp_gone", "input": "x"}),
        json!({"model": "gpt-4o", "input": [{"type": "item_reference", "id": "msg_gone"}]}),
    ] {
        let r = post(body).send().await.unwrap();
        assert_eq!(r.status(), 404);
        let v: Value = r.json().await.unwrap();
        let message = v["error"]["message"].as_str().unwrap();
        assert!(message.contains("_gone'"), "{message}");
    }
    // A malformed input is named, whatever id comes with it.
    let r = post(json!({"model": "gpt-4o", "previous_response_id": id, "input": 5}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["param"], "input", "{v}");
    let unkept: Value = post(json!({"model": "gpt-4o", "input": "hi", "store": false}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(unkept["store"], false);
    let path = format!("/api/v1/responses/{}", unkept["id"].as_str().unwrap());
    assert_eq!(h.http.get(h.url(&path)).send().await.unwrap().status(), 404);

    let mine = format!("/api/v1/responses/{id}");
    let r = h
        .http
        .get(h.url(&mine))
        .header("x-api-key", "someone-else")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404, "another credential's");
    let deleted: Value = h
        .http
        .delete(h.url(&mine))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(deleted["deleted"], true);
    assert_eq!(h.http.get(h.url(&mine)).send().await.unwrap().status(), 404);
}
