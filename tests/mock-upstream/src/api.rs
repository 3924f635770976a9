//! The Messages API side of the mock: `/v1/messages` (JSON or SSE, chosen by `x-mock` or by a
//! word in the conversation), `/v1/messages/count_tokens` and `/v1/models`.
//!
//! Like the real API it refuses, with a 400 `invalid_request_error` in its words, a Messages
//! request without a positive integer `max_tokens`, a client tool without a valid name or an
//! `input_schema`, and a thinking conversation whose tool-calling turn lost its thinking block.

use super::*;

fn quota_headers(r: &mut Response) {
    r.headers_mut()
        .insert("request-id", "req_mock_1".parse().expect("header"));
}

/// The quota reading upstream sends with every Messages answer (see [`Mock::set_quota`]).
fn with_quota(shared: &Shared, mut r: Response) -> Response {
    const DEFAULT: [(&str, &str); 4] = [
        ("status", "allowed"),
        ("representative-claim", "five_hour"),
        ("5h-utilization", "0.25"),
        ("7d-utilization", "0.5"),
    ];
    let chosen = shared.quota.lock().unwrap().clone();
    let pairs: Vec<(String, String)> = chosen.unwrap_or_else(|| {
        DEFAULT
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    });
    for (k, v) in pairs {
        if let (Ok(name), Ok(value)) = (
            axum::http::HeaderName::from_bytes(
                format!("anthropic-ratelimit-unified-{k}").as_bytes(),
            ),
            v.parse::<axum::http::HeaderValue>(),
        ) {
            r.headers_mut().insert(name, value);
        }
    }
    r
}

/// The error texts upstream gives subscription tokens about extra usage and the Claude Code
/// version floor, by scenario.
fn billing_error(scenario: &str) -> Option<Response> {
    let (status, kind, message) = match scenario {
        "error-third-party" => (
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            "Third-party apps now draw from your extra usage, not your plan limits",
        ),
        "error-long-context" => (
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limit_error",
            "Extra usage is required for long context requests",
        ),
        "error-out-of-extra-usage" => (
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            "You're out of extra usage",
        ),
        "error-version-floor" => {
            let body = json!({"type": "error", "error": {"type": "invalid_request_error",
                "message": "Claude Code 2.1.0 does not support this model; version 9.9.9 or newer is required",
                "details": {"error_code": "claude_code_version_too_old"}}});
            return Some(
                (
                    StatusCode::BAD_REQUEST,
                    [("content-type", "application/json")],
                    body.to_string(),
                )
                    .into_response(),
            );
        }
        _ => return None,
    };
    Some(error(status, kind, message))
}

fn message_json(model: &str, text: &str) -> Value {
    json!({
        "id": "msg_mock_1",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [{"type": "text", "text": text}],
        "container": null,
        "stop_reason": "end_turn",
        "stop_sequence": null,
        "stop_details": null,
        "usage": usage(12, 6, 0, 0)
    })
}

/// `usage` as today's API reports it (every field, zeros where nothing was used).
fn usage(input: u64, output: u64, cache_read: u64, cache_write: u64) -> Value {
    json!({
        "input_tokens": input,
        "cache_creation_input_tokens": cache_write,
        "cache_read_input_tokens": cache_read,
        "cache_creation": {"ephemeral_5m_input_tokens": cache_write, "ephemeral_1h_input_tokens": 0},
        "output_tokens": output,
        "output_tokens_details": {"thinking_tokens": 0},
        "server_tool_use": {"web_search_requests": 0, "web_fetch_requests": 0},
        "service_tier": "standard",
        "inference_geo": "not_available",
    })
}

fn sse(event: &str, data: &Value) -> Bytes {
    Bytes::from(format!("event: {event}\ndata: {data}\n\n"))
}

/// The events of a streamed message with `deltas` text deltas.
fn stream_events(model: &str, deltas: u64, delta_len: usize) -> Vec<Bytes> {
    let mut msg = message_json(model, "");
    msg["content"] = json!([]);
    msg["stop_reason"] = Value::Null;
    let mut events = vec![
        sse(
            "message_start",
            &json!({"type":"message_start","message":msg}),
        ),
        sse(
            "content_block_start",
            &json!({"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}),
        ),
        sse("ping", &json!({"type":"ping"})),
    ];
    let chunk = "x".repeat(delta_len.max(1));
    for _ in 0..deltas {
        events.push(sse(
            "content_block_delta",
            &json!({"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":chunk}}),
        ));
    }
    events.push(sse(
        "content_block_stop",
        &json!({"type":"content_block_stop","index":0}),
    ));
    events.push(sse(
        "message_delta",
        &json!({"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null,"stop_details":null},"usage":{"output_tokens":6}}),
    ));
    events.push(sse("message_stop", &json!({"type":"message_stop"})));
    events
}

fn sse_response(body: Body) -> Response {
    let mut r = Response::new(body);
    r.headers_mut().insert(
        "content-type",
        "text/event-stream; charset=utf-8".parse().expect("header"),
    );
    r.headers_mut()
        .insert("cache-control", "no-cache".parse().expect("header"));
    quota_headers(&mut r);
    r
}

/// Counts a `slow` stream dropped before its end.
struct DropGuard {
    shared: Arc<Shared>,
    finished: bool,
}

impl DropGuard {
    fn finish(&mut self) {
        self.finished = true;
    }
}

impl Drop for DropGuard {
    fn drop(&mut self) {
        if !self.finished {
            self.shared.streams_dropped.fetch_add(1, Ordering::SeqCst);
            self.shared.stream_dropped.notify_waiters();
        }
    }
}

pub(crate) async fn messages(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let billed = request
        .headers()
        .get("x-mock")
        .is_some_and(|v| v == "quota-extra-usage");
    let r = answer_messages(&shared, request).await;
    if billed {
        return with_billed_quota(r);
    }
    with_quota(&shared, r)
}

/// `x-mock: quota-extra-usage`: the reading of a request billed to extra usage, the 5-hour
/// window used up and resetting in an hour.
fn with_billed_quota(mut r: Response) -> Response {
    let reset = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() + 3600)
        .unwrap_or(0)
        .to_string();
    for (k, v) in [
        ("status", "allowed"),
        ("representative-claim", "five_hour"),
        ("5h-utilization", "1.0"),
        ("5h-reset", reset.as_str()),
        ("7d-utilization", "0.4"),
        ("overage-status", "allowed"),
        ("overage-in-use", "true"),
    ] {
        r.headers_mut().insert(
            axum::http::HeaderName::from_bytes(
                format!("anthropic-ratelimit-unified-{k}").as_bytes(),
            )
            .expect("header name"),
            v.parse().expect("header"),
        );
    }
    r
}

async fn answer_messages(shared: &Arc<Shared>, request: Request) -> Response {
    let shared = shared.clone();
    let rec = record(&shared, request).await;
    if !authorized(&shared, &rec) {
        return error(
            StatusCode::UNAUTHORIZED,
            "authentication_error",
            "invalid bearer token",
        );
    }
    let parsed: Value = serde_json::from_slice(&rec.body).unwrap_or(Value::Null);
    let model = parsed["model"]
        .as_str()
        .unwrap_or("claude-sonnet-4-20250514")
        .to_string();
    let streaming = parsed["stream"].as_bool().unwrap_or(false);
    let text_len = shared.reply_text_len.load(Ordering::Relaxed) as usize;
    let deltas = shared.stream_deltas.load(Ordering::Relaxed);
    let mut scenario = rec.header("x-mock");
    if scenario.is_empty() {
        let has = |word: &[u8]| rec.body.windows(word.len()).any(|w| w == word);
        if has(b"MOCK_ERROR_429") {
            let mut r = error(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limit_error",
                "Number of request tokens has exceeded your rate limit",
            );
            r.headers_mut()
                .insert("x-should-retry", "false".parse().expect("header"));
            return r;
        }
        if has(b"MOCK_TOOL_USE") || has(b"MOCK_WRITE_FILE=") {
            scenario = "cli-tool".into();
        }
        if has(b"MOCK_HANG") {
            scenario = "hang".into();
        }
        if has(b"MOCK_VERSION_FLOOR") {
            scenario = "error-version-floor".into();
        }
        if has(b"MOCK_THIRD_PARTY") {
            scenario = "error-third-party".into();
        }
    }
    if let Some(problem) = max_tokens_problem(&parsed)
        .or_else(|| tools_problem(&parsed))
        .or_else(|| thinking_problem(&parsed))
    {
        return error(StatusCode::BAD_REQUEST, "invalid_request_error", &problem);
    }
    if let Some(r) = billing_error(&scenario) {
        return r;
    }
    match scenario.as_str() {
        "error-429" => error(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limit_error",
            "slow down",
        ),
        "error-500" => error(StatusCode::INTERNAL_SERVER_ERROR, "api_error", "boom"),
        "garbage-event" => {
            // The whole stream, with an event whose data is not JSON after the first two.
            let mut events = stream_events(&model, 1, 4);
            events.insert(
                2,
                Bytes::from_static(b"event: content_block_delta\ndata: {not json\n\n"),
            );
            sse_response(Body::from(events.concat()))
        }
        "stream-break" => {
            let events = stream_events(&model, 1, 4);
            let stream = futures_util::stream::unfold(0usize, move |i| {
                let events = events.clone();
                async move {
                    match i {
                        0 | 1 => Some((Ok(events[i].clone()), i + 1)),
                        2 => {
                            // Let the first events leave before the cut, as a real network would.
                            tokio::time::sleep(Duration::from_millis(100)).await;
                            Some((Err(std::io::Error::other("mock: connection cut")), 3))
                        }
                        _ => None,
                    }
                }
            });
            sse_response(Body::from_stream(stream))
        }
        "hang" => {
            shared.gate.notified().await;
            (
                [("content-type", "application/json")],
                message_json(&model, "late").to_string(),
            )
                .into_response()
        }
        "gated" => {
            let events = stream_events(&model, deltas, text_len / deltas as usize);
            let shared = shared.clone();
            let stream = futures_util::stream::unfold(0usize, move |i| {
                let events = events.clone();
                let shared = shared.clone();
                async move {
                    if i == 1 {
                        shared.gate.notified().await;
                    }
                    events
                        .get(i)
                        .map(|e| (Ok::<_, std::io::Error>(e.clone()), i + 1))
                }
            });
            sse_response(Body::from_stream(stream))
        }
        "slow" => {
            let guard = DropGuard {
                shared: shared.clone(),
                finished: false,
            };
            let events = stream_events(&model, 3000, 4);
            let stream = futures_util::stream::unfold((0usize, guard), move |(i, mut guard)| {
                let events = events.clone();
                async move {
                    if i > 0 {
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                    match events.get(i) {
                        Some(e) => Some((Ok::<_, std::io::Error>(e.clone()), (i + 1, guard))),
                        None => {
                            guard.finish();
                            None
                        }
                    }
                }
            });
            sse_response(Body::from_stream(stream))
        }
        "tools" | "thinking" | "cli-tool" => {
            let message = if scenario == "cli-tool" {
                cli_tool_message(&model, &parsed)
            } else {
                scripted_message(&model, &scenario, &parsed)
            };
            answer(&message, streaming)
        }
        // With thinking on, the answer starts with a thinking block, as the API's does.
        _ if chosen_tool(&parsed).is_some()
            || parsed["thinking"]["type"] == "enabled"
            || tool_results_text(&parsed).is_some() =>
        {
            let mut message = match (chosen_tool(&parsed), tool_results_text(&parsed)) {
                (Some(_), _) => tool_message(&model, &parsed),
                // After tool results, the model reports them.
                (None, Some(results)) => {
                    message_json(&model, &format!("The tool returned: {results}"))
                }
                (None, None) => message_json(&model, &"x".repeat(text_len)),
            };
            if parsed["thinking"]["type"] == "enabled" {
                if let Some(content) = message["content"].as_array_mut() {
                    content.insert(0, thinking_block("Let me think about the answer."));
                }
                message["usage"]["output_tokens_details"]["thinking_tokens"] = json!(8);
            }
            answer(&message, streaming)
        }
        _ if streaming => {
            let events = stream_events(&model, deltas, text_len / deltas as usize);
            let stream =
                futures_util::stream::iter(events.into_iter().map(Ok::<_, std::io::Error>));
            sse_response(Body::from_stream(stream))
        }
        _ => {
            let mut r = (
                [("content-type", "application/json")],
                message_json(&model, &"x".repeat(text_len)).to_string(),
            )
                .into_response();
            quota_headers(&mut r);
            r
        }
    }
}

pub(crate) async fn count_tokens(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let rec = record(&shared, request).await;
    if !authorized(&shared, &rec) {
        return error(
            StatusCode::UNAUTHORIZED,
            "authentication_error",
            "invalid bearer token",
        );
    }
    (
        [("content-type", "application/json")],
        json!({"input_tokens": 42}).to_string(),
    )
        .into_response()
}

pub(crate) async fn models(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    record(&shared, request).await;
    (
        [("content-type", "application/json")],
        json!({"data":[],"has_more":false}).to_string(),
    )
        .into_response()
}

/// Any other endpoint of the API (`/v1/files`, message batches, Claude Code's `/api/hello`, …):
/// recorded, 401 without the token like `/v1/*`, else answered with what arrived.
pub(crate) async fn other(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let rec = record(&shared, request).await;
    if !authorized(&shared, &rec) {
        return error(
            StatusCode::UNAUTHORIZED,
            "authentication_error",
            "invalid token",
        );
    }
    let doc = json!({
        "method": rec.method,
        "uri": rec.uri,
        "content_type": rec.header("content-type"),
        "bytes": rec.body.len(),
    });
    ([("content-type", "application/json")], doc.to_string()).into_response()
}

/// `MOCK_TOOL_USE`: ask for the client's shell tool (`echo hi`; thinking first when thinking is
/// on), or report the tool's result once it is there.
fn cli_tool_message(model: &str, request: &Value) -> Value {
    let last = request["messages"]
        .as_array()
        .and_then(|m| m.last())
        .cloned()
        .unwrap_or(Value::Null);
    let result = last["content"].as_array().and_then(|blocks| {
        blocks
            .iter()
            .find(|b| b["type"] == "tool_result")
            .map(|b| match &b["content"] {
                Value::String(s) => s.clone(),
                Value::Array(parts) => parts
                    .iter()
                    .filter_map(|p| p["text"].as_str())
                    .collect::<Vec<_>>()
                    .join(""),
                _ => String::new(),
            })
    });
    let (content, stop) = match result {
        Some(out) => (
            json!([{"type": "text", "text": format!("The tool returned: {}", out.trim())}]),
            "end_turn",
        ),
        None => {
            // `echo hi` with the shell tool the client offers: Claude Code's `Bash`, Codex CLI's
            // `exec_command` or its older `shell`.
            let offered = |name: &str| {
                request["tools"]
                    .as_array()
                    .is_some_and(|t| t.iter().any(|t| t["name"] == name))
            };
            let (name, input) = if let Some(path) = file_to_write(request) {
                (
                    "Write",
                    json!({"file_path": path, "content": "written by the claude CLI\n"}),
                )
            } else if offered("exec_command") {
                ("exec_command", json!({"cmd": "echo hi"}))
            } else if offered("shell") {
                ("shell", json!({"command": ["echo", "hi"]}))
            } else {
                (
                    "Bash",
                    json!({"command": "echo hi", "description": "Print hi"}),
                )
            };
            let thinking = (request["thinking"]["type"] == "enabled")
                .then(|| thinking_block("The user wants me to run a command."));
            let blocks: Vec<Value> = thinking
                .into_iter()
                .chain([
                    json!({"type": "text", "text": "I'll run that command."}),
                    json!({"type": "tool_use", "id": tool_use_id(), "name": name, "input": input, "caller": {"type": "direct"}}),
                ])
                .collect();
            (Value::Array(blocks), "tool_use")
        }
    };
    json!({
        "id": "msg_mock_cli", "type": "message", "role": "assistant", "model": model,
        "content": content, "container": null, "stop_reason": stop, "stop_sequence": null,
        "stop_details": null, "usage": usage(30, 12, 0, 0)
    })
}

/// `MOCK_WRITE_FILE=<absolute path>` in the conversation: the file Claude Code's `Write` tool
/// is asked to write.
fn file_to_write(request: &Value) -> Option<String> {
    let text = request["messages"].to_string();
    let start = text.find("MOCK_WRITE_FILE=")? + "MOCK_WRITE_FILE=".len();
    let path: String = text[start..]
        .chars()
        .take_while(|c| !c.is_whitespace() && *c != '"' && *c != '\\')
        .collect();
    (!path.is_empty()).then_some(path)
}

/// A new `tool_use` id: unique, as the API's are (clients and proxies match results by it).
fn tool_use_id() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    format!("toolu_mock_{:04}", NEXT.fetch_add(1, Ordering::Relaxed))
}

/// The conversation's last message, not counting `system` messages (Claude Code appends its
/// environment as one).
fn last_turn(request: &Value) -> Option<&Value> {
    request["messages"]
        .as_array()?
        .iter()
        .rev()
        .find(|m| m["role"] != "system")
}

/// A message's text when it is a plain question: a string, or only text blocks (what the
/// OpenAI translations send), not counting the `<system-reminder>` blocks Claude Code puts
/// before the user's words. Earlier turns written out as a `<conversation>` (Claude Code mode's
/// fresh start) are not a plain question: they are answered in text, as the scenarios they test
/// expect.
fn plain_question(message: &Value) -> Option<String> {
    match &message["content"] {
        Value::String(s) => Some(s.clone()),
        Value::Array(blocks) if blocks.iter().all(|b| b["type"] == "text") => {
            let text: String = blocks
                .iter()
                .filter_map(|b| b["text"].as_str())
                .filter(|t| !t.trim_start().starts_with("<system-reminder>"))
                .collect();
            (!text.contains("<system-reminder>") && !text.contains("<conversation>"))
                .then_some(text)
        }
        _ => None,
    }
}

/// The text of the tool results the last user turn carries, if it carries any.
fn tool_results_text(request: &Value) -> Option<String> {
    let blocks = last_turn(request)?["content"].as_array()?;
    let texts: Vec<String> = blocks
        .iter()
        .filter(|b| b["type"] == "tool_result")
        .map(|b| {
            let text = match &b["content"] {
                Value::String(s) => s.clone(),
                Value::Array(parts) => parts
                    .iter()
                    .filter_map(|p| p["text"].as_str())
                    .collect::<Vec<_>>()
                    .join(""),
                _ => String::new(),
            };
            if b["is_error"] == true {
                format!("(error) {}", text.trim())
            } else {
                text.trim().to_string()
            }
        })
        .collect();
    (!texts.is_empty()).then(|| texts.join("; "))
}

/// The whole message of a scripted scenario.
/// The tool a model would call for this request, if any: the one `tool_choice` forces (`any`:
/// the first), or — when the conversation ends with the user's plain question and tools are
/// offered with `auto` — one whose name's words appear in it ("What is the weather in Paris?"
/// and `get_weather`). After a tool result, or with `none`, no tool.
fn chosen_tool(request: &Value) -> Option<&Value> {
    let tools = request["tools"].as_array()?;
    let choice = &request["tool_choice"];
    match choice["type"].as_str() {
        Some("none") => return None,
        Some("any") => return tools.first(),
        Some("tool") => return tools.iter().find(|t| t["name"] == choice["name"]),
        _ => {}
    }
    let last = last_turn(request)?;
    let question = plain_question(last)?.to_lowercase();
    if last["role"] != "user" {
        return None;
    }
    tools.iter().find(|t| {
        t["name"].as_str().is_some_and(|name| {
            name.split(['_', '-'])
                .filter(|w| w.len() >= 4)
                .any(|w| question.contains(&w.to_lowercase()))
        })
    })
}

/// Calls of [`chosen_tool`] with its required string fields filled from the question: the words
/// after its last " in " (else "mock"), one call per place when they name several ("in Paris
/// and Tokyo": two calls, as a model makes parallel calls).
fn tool_message(model: &str, request: &Value) -> Value {
    let tool = chosen_tool(request).cloned().unwrap_or(Value::Null);
    let question = last_turn(request)
        .and_then(plain_question)
        .unwrap_or_default();
    let places: Vec<String> = match question.rsplit_once(" in ") {
        Some((_, places)) => places
            .trim_end_matches(['?', '.', '!'])
            .split(" and ")
            .map(|p| p.trim().to_string())
            .collect(),
        None => vec!["mock".into()],
    };
    let calls: Vec<Value> = places
        .into_iter()
        .map(|value| {
            let mut input = serde_json::Map::new();
            for key in tool["input_schema"]["required"]
                .as_array()
                .into_iter()
                .flatten()
            {
                if let Some(key) = key.as_str() {
                    input.insert(key.into(), value.clone().into());
                }
            }
            json!({"type": "tool_use", "id": tool_use_id(), "name": tool["name"], "input": input, "caller": {"type": "direct"}})
        })
        .collect();
    json!({
        "id": "msg_mock_tool", "type": "message", "role": "assistant", "model": model,
        "content": calls,
        "container": null, "stop_reason": "tool_use", "stop_sequence": null, "stop_details": null,
        "usage": usage(25, 10, 0, 0)
    })
}

/// What the real API says of a Messages request's `max_tokens`: it is required and must be a
/// positive integer (there is no default, unlike OpenAI's APIs).
fn max_tokens_problem(request: &Value) -> Option<String> {
    if !request.is_object() {
        return None;
    }
    match &request["max_tokens"] {
        Value::Null => Some("max_tokens: Field required".into()),
        v if v.as_u64().is_some_and(|n| n >= 1) => None,
        Value::Number(_) => Some("max_tokens: Input should be greater than or equal to 1".into()),
        _ => Some("max_tokens: Input should be a valid integer".into()),
    }
}

/// What the real API says of a request's `tools`: a client tool needs an `input_schema` and a
/// name of at most 128 letters, digits, `_` and `-`; server tools (`web_search_20250305`, …)
/// carry a versioned `type` instead.
fn tools_problem(request: &Value) -> Option<String> {
    for (i, tool) in request["tools"].as_array()?.iter().enumerate() {
        if tool["type"].as_str().is_some_and(|t| t != "custom") {
            continue;
        }
        let name = tool["name"].as_str().unwrap_or_default();
        let valid = (1..=128).contains(&name.len())
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if !valid {
            return Some(format!(
                "tools.{i}.custom.name: String should match pattern '^[a-zA-Z0-9_-]{{1,128}}$'"
            ));
        }
        if !tool["input_schema"].is_object() {
            return Some(format!("tools.{i}.custom.input_schema: Field required"));
        }
    }
    None
}

/// `message`, as an event stream or as JSON (with the quota headers).
fn answer(message: &Value, streaming: bool) -> Response {
    if streaming {
        let events = events_for(message);
        let stream = futures_util::stream::iter(events.into_iter().map(Ok::<_, std::io::Error>));
        return sse_response(Body::from_stream(stream));
    }
    let mut r = ([("content-type", "application/json")], message.to_string()).into_response();
    quota_headers(&mut r);
    r
}

/// A thinking block with the mock's signature of its text.
fn thinking_block(thought: &str) -> Value {
    json!({"type": "thinking", "thinking": thought, "signature": signature(thought)})
}

/// The mock's signature of a thinking text (the real API's are opaque; this one lets the mock
/// check that a block came back unchanged).
fn signature(thinking: &str) -> String {
    use base64::Engine;
    use sha2::Digest;
    base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(thinking.as_bytes()))
}

/// What the real API says when thinking is on and the conversation ends with tool results: the
/// assistant turn that called those tools must start with its thinking block, which must come
/// back unchanged (its signature checks).
fn thinking_problem(request: &Value) -> Option<String> {
    if request["thinking"]["type"] != "enabled" {
        return None;
    }
    let messages = request["messages"].as_array()?;
    let last = messages.last()?;
    let results = last["content"]
        .as_array()
        .is_some_and(|b| b.iter().any(|b| b["type"] == "tool_result"));
    if last["role"] != "user" || !results {
        return None;
    }
    let (i, assistant) = messages
        .iter()
        .enumerate()
        .rev()
        .find(|(_, m)| m["role"] == "assistant")?;
    let first = &assistant["content"][0];
    match first["type"].as_str() {
        Some("thinking") => {
            let text = first["thinking"].as_str().unwrap_or_default();
            (first["signature"].as_str() != Some(&signature(text)))
                .then(|| format!("messages.{i}.content.0: Invalid `signature` in `thinking` block"))
        }
        Some("redacted_thinking") => None,
        other => Some(format!(
            "messages.{i}.content.0.type: Expected `thinking` or `redacted_thinking`, but found \
             `{}`. When `thinking` is enabled, a final `assistant` message must start with a \
             thinking block (preceeding the lastmost set of `tool_use` and `tool_result` blocks).",
            other.unwrap_or("nothing")
        )),
    }
}

/// `tools`: two calls of the request's weather tool (the first tool whose name ends in
/// `weather`, e.g. a flattened `mcp__wx__weather`; `weather` when there is none).
fn scripted_message(model: &str, scenario: &str, request: &Value) -> Value {
    let weather = request["tools"]
        .as_array()
        .and_then(|tools| {
            tools
                .iter()
                .filter_map(|t| t["name"].as_str())
                .find(|n| n.ends_with("weather"))
        })
        .unwrap_or("weather");
    let thinking = (request["thinking"]["type"] == "enabled")
        .then(|| thinking_block("I should look up the weather in both cities."));
    let (content, stop) = match scenario {
        "tools" => (
            json!(thinking.into_iter().chain([
                json!({"type": "text", "text": "I'll check both cities."}),
                json!({"type": "tool_use", "id": "toolu_01", "name": weather, "input": {"city": "Paris"}, "caller": {"type": "direct"}}),
                json!({"type": "tool_use", "id": "toolu_02", "name": weather, "input": {"city": "Oslo", "units": "celsius"}, "caller": {"type": "direct"}}),
            ]).collect::<Vec<_>>()),
            "tool_use",
        ),
        _ => (
            json!([
                thinking_block("The user wants a greeting."),
                {"type": "text", "text": "Hello!"}
            ]),
            "end_turn",
        ),
    };
    json!({
        "id": "msg_mock_2", "type": "message", "role": "assistant", "model": model,
        "content": content, "container": null, "stop_reason": stop, "stop_sequence": null,
        "stop_details": null, "usage": usage(20, 15, 4, 0)
    })
}

/// The SSE events that stream `message`, deltas cut in pieces of 5 characters.
fn events_for(message: &Value) -> Vec<Bytes> {
    let mut out = Vec::new();
    let mut start = message.clone();
    start["content"] = json!([]);
    start["stop_reason"] = Value::Null;
    start["usage"]["output_tokens"] = json!(1);
    out.push(sse(
        "message_start",
        &json!({"type": "message_start", "message": start}),
    ));
    let pieces = |s: &str| -> Vec<String> {
        let chars: Vec<char> = s.chars().collect();
        chars.chunks(5).map(|c| c.iter().collect()).collect()
    };
    let blocks = message["content"].as_array().cloned().unwrap_or_default();
    for (i, block) in blocks.iter().enumerate() {
        let (start_block, deltas): (Value, Vec<Value>) = match block["type"].as_str() {
            Some("text") => (
                json!({"type": "text", "text": ""}),
                pieces(block["text"].as_str().unwrap_or(""))
                    .into_iter()
                    .map(|p| json!({"type": "text_delta", "text": p}))
                    .collect(),
            ),
            // As the API streams it: the text, then the signature in one delta.
            Some("thinking") => (
                json!({"type": "thinking", "thinking": "", "signature": ""}),
                pieces(block["thinking"].as_str().unwrap_or(""))
                    .into_iter()
                    .map(|p| json!({"type": "thinking_delta", "thinking": p}))
                    .chain([json!({"type": "signature_delta", "signature": block["signature"]})])
                    .collect(),
            ),
            _ => (
                json!({"type": "tool_use", "id": block["id"], "name": block["name"], "input": {}, "caller": block["caller"]}),
                pieces(&block["input"].to_string())
                    .into_iter()
                    .map(|p| json!({"type": "input_json_delta", "partial_json": p}))
                    .collect(),
            ),
        };
        out.push(sse(
            "content_block_start",
            &json!({"type": "content_block_start", "index": i, "content_block": start_block}),
        ));
        for d in deltas {
            out.push(sse(
                "content_block_delta",
                &json!({"type": "content_block_delta", "index": i, "delta": d}),
            ));
        }
        out.push(sse(
            "content_block_stop",
            &json!({"type": "content_block_stop", "index": i}),
        ));
    }
    out.push(sse("message_delta", &json!({"type": "message_delta", "delta": {"stop_reason": message["stop_reason"], "stop_sequence": null, "stop_details": null}, "usage": {"output_tokens": message["usage"]["output_tokens"], "output_tokens_details": message["usage"]["output_tokens_details"]}})));
    out.push(sse("message_stop", &json!({"type": "message_stop"})));
    out
}
