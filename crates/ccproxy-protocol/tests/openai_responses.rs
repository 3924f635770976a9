//! The Responses API translation: request, response, and the streaming event sequence.
// A test fails loudly on the first surprise: unwrap and expect are how it says so.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)]

use ccproxy_protocol::openai::chat_request::Options;
use ccproxy_protocol::openai::responses::{translate, translate_response, Echo, ResponsesStream};
use ccproxy_protocol::openai::ResponseContext;
use ccproxy_protocol::sse::SseDecoder;
use serde_json::{json, Value};

fn opts(aliases: &[(String, String)]) -> Options<'_> {
    Options {
        default_max_tokens: 8192,
        aliases,
    }
}

#[test]
fn request_with_items_instructions_tools_and_format() {
    let aliases = vec![("gpt-4o".to_string(), "claude-sonnet-4-20250514".to_string())];
    let t = translate(&json!({
        "model": "gpt-4o",
        "instructions": "Be brief.",
        "input": [
            {"role": "user", "content": [{"type": "input_text", "text": "Weather?"}, {"type": "input_image", "image_url": "https://x.test/a.png"}]},
            {"type": "function_call", "call_id": "call_a", "name": "weather", "arguments": "{\"city\":\"Paris\"}"},
            {"type": "function_call", "call_id": "call_b", "name": "weather", "arguments": "{\"city\":\"Oslo\"}"},
            {"type": "function_call_output", "call_id": "call_a", "output": "18C"},
            {"type": "function_call_output", "call_id": "call_b", "output": "2C"},
            {"type": "reasoning", "id": "rs_1", "summary": []},
            {"role": "assistant", "content": [{"type": "output_text", "text": "Done."}]}
        ],
        "tools": [{"type": "function", "name": "weather", "description": "W", "parameters": {"type": "object"}}],
        "tool_choice": {"type": "function", "name": "weather"},
        "max_output_tokens": 300,
        "store": false,
        "metadata": {"k": "v"}
    }), &opts(&aliases)).unwrap();
    assert_eq!(t.ignored, ["metadata"]);
    assert_eq!(
        t.body,
        json!({
            "model": "claude-sonnet-4-20250514",
            "max_tokens": 300,
            "system": [{"type": "text", "text": "Be brief."}],
            "messages": [
                {"role": "user", "content": [{"type": "text", "text": "Weather?"}, {"type": "image", "source": {"type": "url", "url": "https://x.test/a.png"}}]},
                {"role": "assistant", "content": [
                    {"type": "tool_use", "id": "call_a", "name": "weather", "input": {"city": "Paris"}},
                    {"type": "tool_use", "id": "call_b", "name": "weather", "input": {"city": "Oslo"}}
                ]},
                {"role": "user", "content": [
                    {"type": "tool_result", "tool_use_id": "call_a", "content": "18C"},
                    {"type": "tool_result", "tool_use_id": "call_b", "content": "2C"}
                ]},
                {"role": "assistant", "content": [{"type": "text", "text": "Done."}]}
            ],
            "tools": [{"name": "weather", "description": "W", "input_schema": {"type": "object"}}],
            "tool_choice": {"type": "tool", "name": "weather"}
        })
    );

    let t = translate(
        &json!({"model": "m", "input": "hi", "reasoning": {"effort": "low"},
        "text": {"format": {"type": "json_schema", "name": "x", "schema": {"type": "object"}}}}),
        &opts(&[]),
    )
    .unwrap();
    assert_eq!(
        t.body["messages"],
        json!([{"role": "user", "content": "hi"}])
    );
    assert_eq!(t.body["thinking"]["budget_tokens"], 2048);
    // With thinking on, the schema becomes an instruction instead of a forced tool.
    assert!(t.structured_tool.is_none());
    assert!(t.body["system"][0]["text"]
        .as_str()
        .unwrap()
        .contains("JSON Schema"));
}

#[test]
fn request_errors_name_responses_fields() {
    let cases = [
        (json!({"model": "m"}), "input"),
        (json!({"model": "m", "input": 5}), "input"),
        (
            json!({"model": "m", "input": [{"type": "function_call_output", "call_id": "nope", "output": "x"}]}),
            "input[0].call_id",
        ),
        (
            json!({"model": "m", "input": [{"type": "computer_call"}]}),
            "input[0].type",
        ),
        (
            json!({"model": "m", "input": [{"role": "user", "content": [{"type": "input_audio"}]}]}),
            "input[0].content[0].type",
        ),
        (
            json!({"model": "m", "input": "x", "reasoning": {"effort": "max"}}),
            "reasoning.effort",
        ),
    ];
    for (req, param) in cases {
        let e = translate(&req, &opts(&[])).unwrap_err();
        assert_eq!(e.param, param, "{req}: {}", e.message);
    }
}

fn ctx() -> ResponseContext {
    ResponseContext {
        id: "resp_abc".into(),
        created: 1_700_000_000,
        model: "gpt-4o".into(),
        include_usage: false,
        structured_tool: None,
        namespaced: Vec::new(),
        now: || 1_700_000_100,
    }
}

fn message() -> Value {
    json!({
        "content": [
            {"type": "thinking", "thinking": "Hmm, two cities.", "signature": "s"},
            {"type": "text", "text": "Checking."},
            {"type": "tool_use", "id": "toolu_1", "name": "weather", "input": {"city": "Paris"}},
            {"type": "tool_use", "id": "toolu_2", "name": "weather", "input": {"city": "Oslo"}}
        ],
        "stop_reason": "tool_use",
        "usage": {"input_tokens": 10, "cache_read_input_tokens": 2, "cache_creation_input_tokens": 0, "output_tokens": 20}
    })
}

#[test]
fn response_object() {
    let r = translate_response(&message(), &ctx(), &Echo::default());
    assert_eq!(r["object"], "response");
    assert_eq!(r["status"], "completed");
    assert_eq!(r["model"], "gpt-4o");
    let output = r["output"].as_array().unwrap();
    assert_eq!(
        output[0],
        json!({"type": "reasoning", "id": "rs_abc_0", "summary": [{"type": "summary_text", "text": "Hmm, two cities."}],
               "encrypted_content": ccproxy_protocol::openai::reasoning::seal(&message()["content"][0]).unwrap()})
    );
    // The sealed block is the thinking block, whole.
    let opened =
        ccproxy_protocol::openai::reasoning::open(output[0]["encrypted_content"].as_str().unwrap());
    assert_eq!(opened.unwrap(), message()["content"][0]);
    assert_eq!(output[1]["content"][0]["text"], "Checking.");
    assert_eq!(
        output[2],
        json!({"type": "function_call", "id": "fc_abc_2", "call_id": "toolu_1", "name": "weather", "arguments": "{\"city\":\"Paris\"}", "status": "completed"})
    );
    assert_eq!(r["usage"]["input_tokens"], 12);
    assert_eq!(r["usage"]["input_tokens_details"]["cached_tokens"], 2);
    let mut cut = message();
    cut["stop_reason"] = "max_tokens".into();
    let r = translate_response(&cut, &ctx(), &Echo::default());
    assert_eq!(r["status"], "incomplete");
    assert_eq!(r["incomplete_details"]["reason"], "max_output_tokens");
}

fn sse_for(message: &Value) -> String {
    let mut out = String::new();
    let mut ev =
        |name: &str, data: Value| out.push_str(&format!("event: {name}\ndata: {data}\n\n"));
    ev(
        "message_start",
        json!({"type": "message_start", "message": {"content": [], "usage": {"input_tokens": 10, "cache_read_input_tokens": 2, "cache_creation_input_tokens": 0, "output_tokens": 1}}}),
    );
    for (i, b) in message["content"].as_array().unwrap().iter().enumerate() {
        let (start, key, kind, text) = match b["type"].as_str().unwrap() {
            "thinking" => (
                json!({"type": "thinking", "thinking": ""}),
                "thinking",
                "thinking_delta",
                b["thinking"].as_str().unwrap().to_string(),
            ),
            "text" => (
                json!({"type": "text", "text": ""}),
                "text",
                "text_delta",
                b["text"].as_str().unwrap().to_string(),
            ),
            _ => (
                json!({"type": "tool_use", "id": b["id"], "name": b["name"], "input": {}}),
                "partial_json",
                "input_json_delta",
                b["input"].to_string(),
            ),
        };
        ev(
            "content_block_start",
            json!({"type": "content_block_start", "index": i, "content_block": start}),
        );
        let chars: Vec<char> = text.chars().collect();
        for piece in chars.chunks(3) {
            let piece: String = piece.iter().collect();
            ev(
                "content_block_delta",
                json!({"type": "content_block_delta", "index": i, "delta": {"type": kind, key: piece}}),
            );
        }
        // As the API streams it: a thinking block's signature last, in one delta.
        if let Some(signature) = b["signature"].as_str() {
            ev(
                "content_block_delta",
                json!({"type": "content_block_delta", "index": i, "delta": {"type": "signature_delta", "signature": signature}}),
            );
        }
        ev(
            "content_block_stop",
            json!({"type": "content_block_stop", "index": i}),
        );
    }
    ev(
        "message_delta",
        json!({"type": "message_delta", "delta": {"stop_reason": message["stop_reason"]}, "usage": {"output_tokens": 20}}),
    );
    ev("message_stop", json!({"type": "message_stop"}));
    out
}

fn run(bytes: &[u8], step: usize) -> Vec<(String, Value)> {
    let mut d = SseDecoder::new();
    let mut s = ResponsesStream::new(ctx(), Echo::default());
    let mut events = Vec::new();
    let mut out = Vec::new();
    for chunk in bytes.chunks(step) {
        d.push(chunk, &mut events);
        for e in events.drain(..) {
            out.extend(s.push(&e));
        }
    }
    d.finish(&mut events);
    for e in events.drain(..) {
        out.extend(s.push(&e));
    }
    out.extend(s.finish());
    out
}

#[test]
fn streaming_event_sequence() {
    let sse = sse_for(&message());
    let events = run(sse.as_bytes(), usize::MAX);
    let names: Vec<&str> = events.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names[..2], ["response.created", "response.in_progress"]);
    assert_eq!(*names.last().unwrap(), "response.completed");
    for (i, (name, data)) in events.iter().enumerate() {
        assert_eq!(data["sequence_number"], i as u64, "{name}");
        assert_eq!(data["type"], name.as_str());
    }
    for expected in [
        "response.output_item.added",
        "response.reasoning_summary_text.delta",
        "response.content_part.added",
        "response.output_text.delta",
        "response.output_text.done",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.done",
        "response.output_item.done",
    ] {
        assert!(names.contains(&expected), "{expected}");
    }
    let args: String = events
        .iter()
        .filter(|(n, d)| n == "response.function_call_arguments.delta" && d["output_index"] == 3)
        .map(|(_, d)| d["delta"].as_str().unwrap())
        .collect();
    assert_eq!(args, "{\"city\":\"Oslo\"}");
    // The final response is exactly the non-streamed translation.
    assert_eq!(
        events.last().unwrap().1["response"],
        translate_response(&message(), &ctx(), &Echo::default())
    );
    // However the bytes are split.
    for step in [1, 2, 7, 64] {
        assert_eq!(run(sse.as_bytes(), step), events, "step {step}");
    }
}

#[test]
fn a_broken_stream_fails_the_response() {
    let sse = sse_for(&message());
    let cut = &sse[..sse.find("event: content_block_stop").unwrap()];
    let events = run(cut.as_bytes(), 5);
    let names: Vec<&str> = events
        .iter()
        .rev()
        .take(2)
        .map(|(n, _)| n.as_str())
        .collect();
    assert_eq!(names, ["response.failed", "error"]);
    assert_eq!(
        events.last().unwrap().1["response"]["error"]["code"],
        "stream_interrupted"
    );
}

/// Codex CLI's default tools: function tools, a `namespace` of an MCP server's tools and hosted
/// tools. None fails the request: namespaced tools are flattened for Claude (and a history call
/// of one goes back flat), hosted ones are left out and reported, a hosted `tool_choice` too.
#[test]
fn namespace_tools_are_flattened_and_hosted_tools_left_out() {
    let req = json!({
        "model": "m",
        "input": [
            {"role": "user", "content": "find it"},
            {"type": "function_call", "call_id": "c1", "namespace": "mcp__docs__", "name": "search", "arguments": "{}"},
            {"type": "function_call_output", "call_id": "c1", "output": "none"},
        ],
        "tools": [
            {"type": "function", "name": "shell", "parameters": {"type": "object"}},
            {"type": "namespace", "name": "mcp__docs__", "description": "Docs", "tools": [
                {"type": "function", "name": "search", "description": "Search", "strict": false, "parameters": {"type": "object"}},
                {"type": "function", "name": "open.page", "parameters": {"type": "object"}},
            ]},
            {"type": "namespace", "name": "tasks", "tools": [{"type": "function", "name": "add", "parameters": {"type": "object"}}]},
            {"type": "web_search", "external_web_access": false},
            {"type": "image_generation"},
        ],
        "tool_choice": {"type": "web_search"},
    });
    let t = translate(&req, &opts(&[])).unwrap();
    let names: Vec<&str> = t.body["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "shell",
            "mcp__docs__search",
            "mcp__docs__open_page",
            "tasks__add"
        ]
    );
    assert_eq!(t.body["tools"][1]["description"], "Search");
    assert!(t.body.get("tool_choice").is_none(), "{}", t.body);
    assert_eq!(t.namespaced.len(), 3);
    assert_eq!(t.namespaced[1].name, "open.page");
    let ignored = t.ignored.join("; ");
    for needle in [
        "tools[3] (a `web_search` tool",
        "tools[4] (a `image_generation` tool",
        "tool_choice (a `web_search` tool",
    ] {
        assert!(ignored.contains(needle), "{ignored}");
    }
    let call = &t.body["messages"][1]["content"][0];
    assert_eq!(call["type"], "tool_use");
    assert_eq!(call["name"], "mcp__docs__search");

    // Claude's call of a flat name comes back with its namespace and own name.
    let mut context = ctx();
    context.namespaced = t.namespaced.clone();
    let message = json!({"id": "msg_1", "type": "message", "role": "assistant", "model": "m",
        "content": [
            {"type": "tool_use", "id": "toolu_1", "name": "mcp__docs__open_page", "input": {"u": 1}},
            {"type": "tool_use", "id": "toolu_2", "name": "shell", "input": {}},
        ],
        "stop_reason": "tool_use", "usage": {"input_tokens": 1, "output_tokens": 1}});
    let r = translate_response(&message, &context, &Echo::default());
    assert_eq!(r["output"][0]["name"], "open.page");
    assert_eq!(r["output"][0]["namespace"], "mcp__docs__");
    assert_eq!(r["output"][1]["name"], "shell");
    assert!(r["output"][1].get("namespace").is_none());
}

/// The response object has every field the spec requires, echoing the request: reasoning as
/// asked, tools with `description` and `strict`, the settings' defaults, `completed_at` from the
/// clock, and thinking tokens as reasoning tokens.
#[test]
fn the_response_object_is_complete() {
    let req = json!({"model": "gpt-4o", "input": "x", "reasoning": {"effort": "high", "summary": "auto"},
        "tools": [{"type": "function", "name": "f", "parameters": {"type": "object"}}],
        "presence_penalty": 0.5, "prompt_cache_key": "k"});
    let mut m = message();
    m["usage"]["output_tokens_details"] = json!({"thinking_tokens": 7});
    let r = translate_response(&m, &ctx(), &Echo::of(&req));
    assert_eq!(r["reasoning"], json!({"effort": "high", "summary": "auto"}));
    assert_eq!(
        r["tools"][0],
        json!({"type": "function", "name": "f", "parameters": {"type": "object"}, "description": null, "strict": false})
    );
    assert_eq!(r["presence_penalty"], 0.5);
    assert_eq!(r["prompt_cache_key"], "k");
    assert_eq!(r["frequency_penalty"], 0.0);
    assert_eq!(r["background"], false);
    assert_eq!(
        r["store"], true,
        "kept unless the request says store: false"
    );
    assert_eq!(r["service_tier"], "default");
    assert_eq!(r["completed_at"], 1_700_000_100);
    assert_eq!(r["usage"]["output_tokens_details"]["reasoning_tokens"], 7);
    for key in [
        "top_logprobs",
        "max_tool_calls",
        "safety_identifier",
        "parallel_tool_calls",
        "truncation",
        "text",
        "user",
        "metadata",
    ] {
        assert!(r.get(key).is_some(), "{key}");
    }
}
