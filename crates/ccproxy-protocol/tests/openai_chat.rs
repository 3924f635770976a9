//! The Chat Completions translation, request and response, streamed and not.
// A test fails loudly on the first surprise: unwrap and expect are how it says so.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)]

use ccproxy_protocol::openai::chat_request::{translate, Options, Translated};
use ccproxy_protocol::openai::chat_stream::{accumulate, ChatStream};
use ccproxy_protocol::openai::{chat_response, ResponseContext};
use ccproxy_protocol::sse::SseDecoder;
use serde_json::{json, Value};

fn aliases() -> Vec<(String, String)> {
    vec![
        ("gpt-4o".into(), "claude-sonnet-4-20250514".into()),
        ("o3".into(), "claude-opus-4-20250514".into()),
    ]
}

fn check(req: Value) -> Translated {
    let aliases = aliases();
    translate(
        &req,
        &Options {
            default_max_tokens: 8192,
            aliases: &aliases,
        },
    )
    .unwrap()
}

fn refuse(req: Value) -> (String, String) {
    let aliases = aliases();
    let e = translate(
        &req,
        &Options {
            default_max_tokens: 8192,
            aliases: &aliases,
        },
    )
    .unwrap_err();
    (e.param, e.message)
}

#[test]
fn messages_system_developer_images_and_tools() {
    let t = check(json!({
        "model": "gpt-4o",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "developer", "content": [{"type": "text", "text": "Dev 1"}, {"type": "text", "text": "Dev 2"}]},
            {"role": "user", "content": [
                {"type": "text", "text": "What is this?"},
                {"type": "text", "text": "Second part"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0K"}},
                {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg", "detail": "high"}}
            ]},
            {"role": "assistant", "content": "Let me look.", "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "lookup", "arguments": "{\"q\":\"cat\"}"}},
                {"id": "call_2", "type": "function", "function": {"name": "lookup", "arguments": ""}}
            ]},
            {"role": "tool", "tool_call_id": "call_1", "content": "a cat"},
            {"role": "tool", "tool_call_id": "call_2", "content": [{"type": "text", "text": "x"}, {"type": "text", "text": "y"}]},
            {"role": "system", "content": "Late system note."},
            {"role": "user", "content": "thanks"}
        ],
        "max_completion_tokens": 100,
        "stop": "END",
        "temperature": 0.3,
        "top_p": 0.9,
        "user": "u-42",
        "tools": [{"type": "function", "function": {"name": "lookup", "description": "Look up", "parameters": {"type": "object", "properties": {"q": {"type": "string"}}}}}],
        "tool_choice": "required",
        "parallel_tool_calls": false,
        "seed": 7,
        "frequency_penalty": 0,
        "store": true
    }));
    assert_eq!(t.requested_model, "gpt-4o");
    assert_eq!(t.ignored, ["seed", "store"]);
    assert_eq!(
        t.body,
        json!({
            "model": "claude-sonnet-4-20250514",
            "max_tokens": 100,
            "system": [
                {"type": "text", "text": "Be brief."},
                {"type": "text", "text": "Dev 1"},
                {"type": "text", "text": "Dev 2"},
                {"type": "text", "text": "Late system note."}
            ],
            "messages": [
                {"role": "user", "content": [
                    {"type": "text", "text": "What is this?"},
                    {"type": "text", "text": "Second part"},
                    {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0K"}},
                    {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.jpg"}}
                ]},
                {"role": "assistant", "content": [
                    {"type": "text", "text": "Let me look."},
                    {"type": "tool_use", "id": "call_1", "name": "lookup", "input": {"q": "cat"}},
                    {"type": "tool_use", "id": "call_2", "name": "lookup", "input": {}}
                ]},
                {"role": "user", "content": [
                    {"type": "tool_result", "tool_use_id": "call_1", "content": "a cat"},
                    {"type": "tool_result", "tool_use_id": "call_2", "content": [{"type": "text", "text": "x"}, {"type": "text", "text": "y"}]}
                ]},
                {"role": "user", "content": "thanks"}
            ],
            "stop_sequences": ["END"],
            "temperature": 0.3,
            "top_p": 0.9,
            "metadata": {"user_id": "u-42"},
            "tools": [{"name": "lookup", "description": "Look up", "input_schema": {"type": "object", "properties": {"q": {"type": "string"}}}}],
            "tool_choice": {"type": "any", "disable_parallel_tool_use": true}
        })
    );
}

#[test]
fn defaults_stream_and_tool_choice_forms() {
    let t = check(
        json!({"model": "claude-3-5-haiku-20241022", "messages": [{"role": "user", "content": "hi"}],
        "stream": true, "stream_options": {"include_usage": true}, "stop": ["a", "b"], "tool_choice": {"type": "function", "function": {"name": "f"}}}),
    );
    assert_eq!(t.body["max_tokens"], 8192);
    assert_eq!(t.body["stream"], true);
    assert!(t.include_usage);
    assert_eq!(t.body["stop_sequences"], json!(["a", "b"]));
    assert_eq!(t.body["tool_choice"], json!({"type": "tool", "name": "f"}));
    assert_eq!(check(json!({"model": "m", "messages": [{"role": "user", "content": "x"}], "tool_choice": "none"})).body["tool_choice"], json!({"type": "none"}));
    assert_eq!(check(json!({"model": "m", "messages": [{"role": "user", "content": "x"}], "tool_choice": "auto"})).body["tool_choice"], json!({"type": "auto"}));
    assert_eq!(
        check(
            json!({"model": "m", "messages": [{"role": "user", "content": "x"}], "max_tokens": 5})
        )
        .body["max_tokens"],
        5
    );
}

#[test]
fn reasoning_becomes_thinking_within_upstream_constraints() {
    let t = check(
        json!({"model": "gpt-4o", "messages": [{"role": "user", "content": "x"}],
        "reasoning_effort": "high", "max_completion_tokens": 1000, "temperature": 0.2, "top_p": 0.5}),
    );
    assert_eq!(
        t.body["thinking"],
        json!({"type": "enabled", "budget_tokens": 24576})
    );
    assert_eq!(
        t.body["max_tokens"], 25576,
        "max_tokens stays above the budget"
    );
    assert!(t.body.get("temperature").is_none() && t.body.get("top_p").is_none());
    assert_eq!(
        t.ignored,
        [
            "temperature (not allowed with reasoning)",
            "top_p (not allowed with reasoning)"
        ]
    );
    // o-series names think by default; the alias picks the Claude model.
    let t = check(json!({"model": "o3", "messages": [{"role": "user", "content": "x"}]}));
    assert_eq!(t.body["model"], "claude-opus-4-20250514");
    assert_eq!(t.body["thinking"]["budget_tokens"], 8192);
    assert_eq!(t.body["max_tokens"], 8192 + 8192);
    // A forced tool and thinking cannot go together: thinking is dropped and reported.
    let t = check(
        json!({"model": "m", "messages": [{"role": "user", "content": "x"}], "reasoning_effort": "low", "tool_choice": "required"}),
    );
    assert!(t.body.get("thinking").is_none());
    assert_eq!(
        t.ignored,
        ["reasoning_effort (Claude cannot think while a tool is forced)"]
    );
}

#[test]
fn response_formats() {
    let t = check(
        json!({"model": "m", "messages": [{"role": "user", "content": "x"}],
        "response_format": {"type": "json_schema", "json_schema": {"name": "p", "schema": {"type": "object", "properties": {"a": {"type": "integer"}}}}}}),
    );
    assert_eq!(t.structured_tool.as_deref(), Some("structured_output"));
    assert_eq!(
        t.body["tool_choice"],
        json!({"type": "tool", "name": "structured_output"})
    );
    assert_eq!(
        t.body["tools"][0]["input_schema"]["properties"]["a"]["type"],
        "integer"
    );
    let t = check(
        json!({"model": "m", "messages": [{"role": "user", "content": "x"}], "response_format": {"type": "json_object"}}),
    );
    assert!(t.body["system"][0]["text"]
        .as_str()
        .unwrap()
        .contains("JSON object"));
    assert!(t.structured_tool.is_none());
}

#[test]
fn refusals_name_the_field() {
    let m = || json!([{"role": "user", "content": "x"}]);
    let cases = [
        (json!({"messages": m()}), "model"),
        (json!({"model": "m"}), "messages"),
        (json!({"model": "m", "messages": []}), "messages"),
        (json!({"model": "m", "messages": m(), "n": 2}), "n"),
        (
            json!({"model": "m", "messages": m(), "logprobs": true}),
            "logprobs",
        ),
        (
            json!({"model": "m", "messages": m(), "audio": {"voice": "x"}}),
            "audio",
        ),
        (
            json!({"model": "m", "messages": m(), "temperature": "hot"}),
            "temperature",
        ),
        (
            json!({"model": "m", "messages": m(), "temperature": 3}),
            "temperature",
        ),
        (
            json!({"model": "m", "messages": m(), "stream": "yes"}),
            "stream",
        ),
        (
            json!({"model": "m", "messages": m(), "tool_choice": "sometimes"}),
            "tool_choice",
        ),
        (
            json!({"model": "m", "messages": m(), "reasoning_effort": "extreme"}),
            "reasoning_effort",
        ),
        (
            json!({"model": "m", "messages": [{"role": "wizard", "content": "x"}]}),
            "messages[0].role",
        ),
        (
            json!({"model": "m", "messages": [{"content": "x"}]}),
            "messages[0].role",
        ),
        (
            json!({"model": "m", "messages": [{"role": "user", "content": 5}]}),
            "messages[0].content",
        ),
        (
            json!({"model": "m", "messages": [{"role": "user", "content": [{"type": "input_audio"}]}]}),
            "messages[0].content[0].type",
        ),
        (
            json!({"model": "m", "messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "ftp://x"}}]}]}),
            "messages[0].content[0].image_url.url",
        ),
        (
            json!({"model": "m", "messages": [{"role": "user", "content": "x"}, {"role": "tool", "tool_call_id": "nope", "content": "r"}]}),
            "messages[1].tool_call_id",
        ),
        (
            json!({"model": "m", "messages": [{"role": "assistant", "tool_calls": [{"id": "c", "function": {"name": "f", "arguments": "{bad"}}]}]}),
            "messages[0].tool_calls[0].function.arguments",
        ),
        (
            json!({"model": "m", "messages": [{"role": "assistant", "tool_calls": [{"id": "c", "function": {"name": "f", "arguments": "[1]"}}]}]}),
            "messages[0].tool_calls[0].function.arguments",
        ),
        (
            json!({"model": "m", "messages": m(), "response_format": {"type": "xml"}}),
            "response_format.type",
        ),
        (json!([1, 2]), ""),
    ];
    for (req, param) in cases {
        let (got, message) = refuse(req.clone());
        assert_eq!(got, param, "{req} → {message}");
        assert!(!message.is_empty());
    }
}

fn ctx(include_usage: bool, structured: Option<&str>) -> ResponseContext {
    ResponseContext {
        id: "chatcmpl-test".into(),
        created: 1_700_000_000,
        model: "gpt-4o".into(),
        include_usage,
        structured_tool: structured.map(String::from),
        namespaced: Vec::new(),
        now: || 1_700_000_100,
    }
}

/// A message with thinking, text, and two tool calls after the text.
fn message() -> Value {
    json!({
        "id": "msg_1", "type": "message", "role": "assistant", "model": "claude-sonnet-4-20250514",
        "content": [
            {"type": "thinking", "thinking": "Let me think about it.", "signature": "sig"},
            {"type": "text", "text": "I'll check both cities."},
            {"type": "tool_use", "id": "toolu_1", "name": "weather", "input": {"city": "Paris"}},
            {"type": "tool_use", "id": "toolu_2", "name": "weather", "input": {"city": "Oslo", "units": "c"}}
        ],
        "stop_reason": "tool_use", "stop_sequence": null,
        "usage": {"input_tokens": 10, "cache_read_input_tokens": 5, "cache_creation_input_tokens": 2, "output_tokens": 30}
    })
}

#[test]
fn non_streamed_response() {
    let r = chat_response::translate(&message(), &ctx(false, None));
    assert_eq!(
        r,
        json!({
            "id": "chatcmpl-test", "object": "chat.completion", "created": 1_700_000_000, "model": "gpt-4o",
            "choices": [{"index": 0, "logprobs": null, "finish_reason": "tool_calls", "message": {
                "role": "assistant", "content": "I'll check both cities.", "refusal": null, "annotations": [],
                "reasoning_content": "Let me think about it.",
                "thinking_blocks": [{"type": "thinking", "thinking": "Let me think about it.", "signature": "sig"}],
                "tool_calls": [
                    {"id": "toolu_1", "type": "function", "function": {"name": "weather", "arguments": "{\"city\":\"Paris\"}"}},
                    {"id": "toolu_2", "type": "function", "function": {"name": "weather", "arguments": "{\"city\":\"Oslo\",\"units\":\"c\"}"}}
                ]
            }}],
            "usage": {"prompt_tokens": 17, "completion_tokens": 30, "total_tokens": 47,
                      "prompt_tokens_details": {"cached_tokens": 5}, "completion_tokens_details": {"reasoning_tokens": 0}}
        })
    );
    for (stop, finish) in [
        ("end_turn", "stop"),
        ("stop_sequence", "stop"),
        ("max_tokens", "length"),
        ("refusal", "content_filter"),
    ] {
        let mut m = message();
        m["stop_reason"] = stop.into();
        assert_eq!(
            chat_response::translate(&m, &ctx(false, None))["choices"][0]["finish_reason"],
            finish
        );
    }
    // Structured output: the forced tool's input is the content.
    let m = json!({"content": [{"type": "tool_use", "id": "t", "name": "structured_output", "input": {"a": 1}}], "stop_reason": "tool_use", "usage": {}});
    let r = chat_response::translate(&m, &ctx(false, Some("structured_output")));
    assert_eq!(r["choices"][0]["message"]["content"], "{\"a\":1}");
    assert_eq!(r["choices"][0]["finish_reason"], "stop");
    assert!(r["choices"][0]["message"].get("tool_calls").is_none());
}

/// The SSE text upstream would send for `message`, with deltas of `step` characters.
fn stream_of(message: &Value, step: usize) -> String {
    let mut out = String::new();
    let mut ev =
        |name: &str, data: Value| out.push_str(&format!("event: {name}\ndata: {data}\n\n"));
    let mut start = message.clone();
    start["content"] = json!([]);
    start["stop_reason"] = Value::Null;
    start["usage"] = json!({"input_tokens": message["usage"]["input_tokens"], "cache_read_input_tokens": message["usage"]["cache_read_input_tokens"], "cache_creation_input_tokens": message["usage"]["cache_creation_input_tokens"], "output_tokens": 1});
    ev(
        "message_start",
        json!({"type": "message_start", "message": start}),
    );
    ev("ping", json!({"type": "ping"}));
    let pieces = |s: &str| -> Vec<String> {
        let chars: Vec<char> = s.chars().collect();
        chars.chunks(step).map(|c| c.iter().collect()).collect()
    };
    for (i, block) in message["content"].as_array().unwrap().iter().enumerate() {
        match block["type"].as_str().unwrap() {
            "text" => {
                ev(
                    "content_block_start",
                    json!({"type": "content_block_start", "index": i, "content_block": {"type": "text", "text": ""}}),
                );
                for p in pieces(block["text"].as_str().unwrap()) {
                    ev(
                        "content_block_delta",
                        json!({"type": "content_block_delta", "index": i, "delta": {"type": "text_delta", "text": p}}),
                    );
                }
            }
            "thinking" => {
                ev(
                    "content_block_start",
                    json!({"type": "content_block_start", "index": i, "content_block": {"type": "thinking", "thinking": ""}}),
                );
                for p in pieces(block["thinking"].as_str().unwrap()) {
                    ev(
                        "content_block_delta",
                        json!({"type": "content_block_delta", "index": i, "delta": {"type": "thinking_delta", "thinking": p}}),
                    );
                }
                ev(
                    "content_block_delta",
                    json!({"type": "content_block_delta", "index": i, "delta": {"type": "signature_delta", "signature": "sig"}}),
                );
            }
            "tool_use" => {
                ev(
                    "content_block_start",
                    json!({"type": "content_block_start", "index": i, "content_block": {"type": "tool_use", "id": block["id"], "name": block["name"], "input": {}}}),
                );
                ev(
                    "content_block_delta",
                    json!({"type": "content_block_delta", "index": i, "delta": {"type": "input_json_delta", "partial_json": ""}}),
                );
                for p in pieces(&block["input"].to_string()) {
                    ev(
                        "content_block_delta",
                        json!({"type": "content_block_delta", "index": i, "delta": {"type": "input_json_delta", "partial_json": p}}),
                    );
                }
            }
            _ => unreachable!(),
        }
        ev(
            "content_block_stop",
            json!({"type": "content_block_stop", "index": i}),
        );
    }
    ev(
        "message_delta",
        json!({"type": "message_delta", "delta": {"stop_reason": message["stop_reason"], "stop_sequence": null}, "usage": {"output_tokens": message["usage"]["output_tokens"]}}),
    );
    ev("message_stop", json!({"type": "message_stop"}));
    out
}

fn run_stream(bytes: &[u8], splits: &[usize], ctx: ResponseContext) -> Vec<Value> {
    let mut decoder = SseDecoder::new();
    let mut stream = ChatStream::new(ctx);
    let mut events = Vec::new();
    let mut chunks = Vec::new();
    let mut at = 0;
    for &end in splits.iter().chain(std::iter::once(&bytes.len())) {
        decoder.push(&bytes[at..end], &mut events);
        at = end;
        for e in events.drain(..) {
            chunks.extend(stream.push(&e));
        }
    }
    decoder.finish(&mut events);
    for e in events.drain(..) {
        chunks.extend(stream.push(&e));
    }
    chunks.extend(stream.finish());
    chunks
}

#[test]
fn stream_chunks_have_stable_tool_indexes_after_text() {
    let sse = stream_of(&message(), 4);
    let chunks = run_stream(sse.as_bytes(), &[], ctx(true, None));
    assert_eq!(
        chunks[0]["choices"][0]["delta"],
        json!({"role": "assistant", "content": ""})
    );
    assert!(chunks.iter().all(|c| c["id"] == "chatcmpl-test"
        && c["created"] == 1_700_000_000
        && c["object"] == "chat.completion.chunk"));
    let starts: Vec<_> = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["tool_calls"][0].as_object())
        .filter(|t| t.contains_key("id"))
        .map(|t| {
            (
                t["index"].as_u64().unwrap(),
                t["id"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        starts,
        [(0, "toolu_1".to_string()), (1, "toolu_2".to_string())]
    );
    let n = chunks.len();
    assert_eq!(chunks[n - 2]["choices"][0]["finish_reason"], "tool_calls");
    assert_eq!(chunks[n - 1]["choices"], json!([]));
    assert_eq!(chunks[n - 1]["usage"]["prompt_tokens"], 17);
    assert_eq!(chunks[n - 1]["usage"]["completion_tokens"], 30);
    assert!(
        chunks.iter().all(|c| !c.to_string().contains("<thinking>")),
        "thinking is never inlined"
    );
}

#[test]
fn stream_output_is_the_same_however_the_bytes_are_split() {
    let sse = stream_of(&message(), 3);
    let bytes = sse.as_bytes();
    let whole = run_stream(bytes, &[], ctx(true, None));
    for size in 1..=17 {
        let splits: Vec<usize> = (size..bytes.len()).step_by(size).collect();
        assert_eq!(
            run_stream(bytes, &splits, ctx(true, None)),
            whole,
            "chunks of {size} bytes"
        );
    }
    // Pseudo-random splits (a fixed LCG, so the test is repeatable).
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    for _ in 0..200 {
        let mut splits = Vec::new();
        let mut at = 0;
        loop {
            x = x
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            at += 1 + (x >> 58) as usize;
            if at >= bytes.len() {
                break;
            }
            splits.push(at);
        }
        assert_eq!(run_stream(bytes, &splits, ctx(true, None)), whole);
    }
}

#[test]
fn accumulating_the_stream_equals_translating_the_message() {
    let messages = [
        message(),
        json!({"content": [{"type": "text", "text": "Hello there, friend — ünïcödé ✓"}], "stop_reason": "end_turn",
               "usage": {"input_tokens": 3, "cache_read_input_tokens": 0, "cache_creation_input_tokens": 0, "output_tokens": 9}}),
        json!({"content": [{"type": "tool_use", "id": "a", "name": "f", "input": {}}], "stop_reason": "tool_use",
               "usage": {"input_tokens": 3, "cache_read_input_tokens": 1, "cache_creation_input_tokens": 0, "output_tokens": 2}}),
        json!({"content": [{"type": "text", "text": "cut"}], "stop_reason": "max_tokens",
               "usage": {"input_tokens": 3, "cache_read_input_tokens": 0, "cache_creation_input_tokens": 4, "output_tokens": 1}}),
    ];
    for m in messages {
        for step in [1, 2, 5, 1000] {
            let chunks = run_stream(stream_of(&m, step).as_bytes(), &[], ctx(true, None));
            assert_eq!(
                accumulate(&chunks),
                chat_response::translate(&m, &ctx(true, None)),
                "step {step}: {m}"
            );
        }
    }
    // The structured-output tool streams as content.
    let m = json!({"content": [{"type": "tool_use", "id": "t", "name": "structured_output", "input": {"a": [1, 2]}}],
                   "stop_reason": "tool_use", "usage": {"input_tokens": 1, "cache_read_input_tokens": 0, "cache_creation_input_tokens": 0, "output_tokens": 1}});
    let c = ctx(true, Some("structured_output"));
    let chunks = run_stream(stream_of(&m, 2).as_bytes(), &[], c.clone());
    assert_eq!(accumulate(&chunks), chat_response::translate(&m, &c));
}

#[test]
fn errors_and_truncation_in_the_stream() {
    let mut sse = stream_of(&message(), 4);
    sse.truncate(sse.find("event: content_block_stop").unwrap());
    let broken = format!("{sse}event: error\ndata: {{\"type\":\"error\",\"error\":{{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}}}\n\n");
    let chunks = run_stream(broken.as_bytes(), &[], ctx(false, None));
    let last = chunks.last().unwrap();
    assert_eq!(last["error"]["message"], "Overloaded");
    assert_eq!(last["error"]["code"], "overloaded");
    let chunks = run_stream(sse.as_bytes(), &[], ctx(false, None));
    assert_eq!(
        chunks.last().unwrap()["error"]["code"],
        "stream_interrupted"
    );
}

/// A tool of another type than `function` (a hosted one) is left out and reported, not a 400;
/// when none is left, a `tool_choice` among them goes too.
#[test]
fn other_tool_types_are_left_out_and_reported() {
    let m = || json!([{"role": "user", "content": "hi"}]);
    let t = check(json!({"model": "m", "messages": m(), "tools": [
        {"type": "web_search"},
        {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}},
    ]}));
    assert_eq!(t.body["tools"].as_array().unwrap().len(), 1);
    assert!(
        t.ignored
            .iter()
            .any(|i| i.starts_with("tools[0] (a `web_search` tool")),
        "{:?}",
        t.ignored
    );
    let t = check(
        json!({"model": "m", "messages": m(), "tools": [{"type": "web_search"}], "tool_choice": "required"}),
    );
    assert!(
        t.body.get("tools").is_none() && t.body.get("tool_choice").is_none(),
        "{}",
        t.body
    );
    assert!(
        t.ignored.iter().any(|i| i.starts_with("tool_choice")),
        "{:?}",
        t.ignored
    );
}
