//! Claude Code mode's two pure translations: an Anthropic Messages request → what the `claude`
//! CLI is given ([`CliRequest`]), and the CLI's stream-json output for one turn → the events of
//! one Anthropic message ([`Turn`]).
//!
//! ## The request
//!
//! What the CLI may do (working directory, tools, permissions, MCP servers, turn limit) is server
//! configuration: any request field that would set it is refused ([`SERVER_SETTINGS`]). `system`
//! becomes `--system-prompt`, `model` is switched per turn. A conversation of one user message is
//! sent as it is; a longer one is sent as one user message that carries the earlier messages in a
//! `<conversation>` transcript (images stay image blocks, in place), followed by the last
//! message — unless a session already holds the earlier messages (see [`history_keys`]).
//!
//! ## The response
//!
//! One turn of the CLI can call the API several times (the model asks for a tool, the CLI runs
//! it, the model goes on). The client sees one message: the first `message_start`, every content
//! block re-indexed in order, and one closing `message_delta` whose `usage` is the turn's total
//! (from the `result` line). The CLI's own tool calls are not client tools, so they are shown as
//! text the client can read, never as `tool_use` blocks it would try to run:
//!
//! ```text
//! ⏺ Bash({"command":"echo hi"})
//!   ⎿ hi
//! ```
//!
//! System lines (`system/init` with tools, cwd and session ids), rate-limit events and sub-agent
//! traffic are never shown. Token streams come from `stream_event` lines; an `assistant` line
//! whose message was not streamed (the CLI fell back to a non-streaming call) is shown whole.

use serde_json::{json, Map, Value};
use std::collections::{HashMap, HashSet};

/// Kept here for the callers that fold a turn's events; it lives in [`crate::anthropic::message`].
pub use crate::anthropic::message::Accumulator;

/// Request fields that would change what the CLI may do: refused with a 400.
pub const SERVER_SETTINGS: [&str; 27] = [
    "cwd",
    "working_directory",
    "permission_mode",
    "permissionMode",
    "allowed_tools",
    "allowedTools",
    "disallowed_tools",
    "disallowedTools",
    "mcp_servers",
    "mcpServers",
    "mcp_config",
    "max_turns",
    "maxTurns",
    "add_dirs",
    "env",
    "settings",
    "permission_prompt_tool_name",
    "extra_args",
    "resume",
    "continue_conversation",
    "fork_session",
    "cli_path",
    "executable",
    "dangerously_skip_permissions",
    "hooks",
    "tools",
    "tool_choice",
];

/// Request fields the CLI has no per-turn control for: accepted, reported as ignored.
const IGNORED: [&str; 10] = [
    "max_tokens",
    "temperature",
    "top_p",
    "top_k",
    "stop_sequences",
    "metadata",
    "thinking",
    "service_tier",
    "container",
    "context_management",
];

/// The most of a tool's output shown to the client.
pub const TOOL_RESULT_SHOWN: usize = 2000;

/// A refused request: the message names the field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestError(pub String);

/// What the CLI is given for one request.
#[derive(Debug, Clone, PartialEq)]
pub struct CliRequest {
    /// `--system-prompt` (empty when the request has none).
    pub system: String,
    pub model: Option<String>,
    pub stream: bool,
    /// The request's messages (validated: non-empty, alternating roles are not required, the
    /// last one is the user's).
    pub messages: Vec<Value>,
    /// Fields accepted but not applied.
    pub ignored: Vec<String>,
}

/// Reads and checks an Anthropic Messages request for Claude Code mode.
pub fn parse_request(req: &Value) -> Result<CliRequest, RequestError> {
    let obj = req
        .as_object()
        .ok_or_else(|| RequestError("the request body must be a JSON object".into()))?;
    for key in obj.keys() {
        if key == "tools" || key == "tool_choice" {
            return Err(RequestError(format!(
                "`{key}`: client-defined tools are not available in Claude Code mode; the CLI uses \
                 its own tools, which are a server setting (claude.allowed_tools / \
                 claude.disallowed_tools). Use /api for your own tools"
            )));
        }
        if SERVER_SETTINGS.contains(&key.as_str()) {
            return Err(RequestError(format!(
                "`{key}` is a server setting in Claude Code mode: a request cannot change the \
                 CLI's working directory, tools, permissions, MCP servers or turn limit \
                 (see claude.* in the configuration)"
            )));
        }
    }
    let messages = obj
        .get("messages")
        .and_then(Value::as_array)
        .ok_or_else(|| RequestError("`messages`: an array of messages is required".into()))?;
    if messages.is_empty() {
        return Err(RequestError(
            "`messages`: at least one message is required".into(),
        ));
    }
    for (i, m) in messages.iter().enumerate() {
        match m["role"].as_str() {
            Some("user" | "assistant") => {}
            _ => {
                return Err(RequestError(format!(
                    "`messages.{i}.role` must be `user` or `assistant`"
                )))
            }
        }
        if !(m["content"].is_string() || m["content"].is_array()) {
            return Err(RequestError(format!(
                "`messages.{i}.content` must be a string or an array of content blocks"
            )));
        }
    }
    if messages.last().map(|m| &m["role"]) != Some(&json!("user")) {
        return Err(RequestError(
            "`messages`: the last message must be the user's; Claude Code mode cannot continue a \
             prefilled assistant message"
                .into(),
        ));
    }
    let system = match obj.get("system") {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(blocks)) => blocks
            .iter()
            .filter_map(|b| b["text"].as_str())
            .collect::<Vec<_>>()
            .join("\n\n"),
        Some(_) => {
            return Err(RequestError(
                "`system` must be a string or an array of text blocks".into(),
            ))
        }
    };
    let model = match obj.get("model") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if !s.trim().is_empty() => Some(s.clone()),
        Some(_) => return Err(RequestError("`model` must be a model name".into())),
    };
    let stream = match obj.get("stream") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(RequestError("`stream` must be a boolean".into())),
    };
    let ignored = obj
        .keys()
        .filter(|k| IGNORED.contains(&k.as_str()))
        .cloned()
        .collect();
    Ok(CliRequest {
        system,
        model,
        stream,
        messages: messages.clone(),
        ignored,
    })
}

/// The text of a content value: a string, or the text of its text blocks.
fn plain_text(content: &Value) -> String {
    match content {
        Value::String(s) => s.clone(),
        Value::Array(blocks) => blocks
            .iter()
            .filter_map(|b| b["text"].as_str())
            .collect::<Vec<_>>()
            .join(""),
        _ => String::new(),
    }
}

/// A key per message that survives the round trip through a client: user messages by their
/// whole content, assistant messages by their text (clients send back the text they were given,
/// as a string or as blocks). A session whose keys are a prefix of a request's keys already
/// holds those messages.
pub fn history_keys(messages: &[Value]) -> Vec<u64> {
    use std::hash::{Hash, Hasher};
    messages
        .iter()
        .map(|m| {
            let mut h = std::collections::hash_map::DefaultHasher::new();
            let role = m["role"].as_str().unwrap_or("");
            role.hash(&mut h);
            if role == "assistant" {
                plain_text(&m["content"]).trim().hash(&mut h);
            } else {
                m["content"].to_string().hash(&mut h);
            }
            h.finish()
        })
        .collect()
}

/// The key of the assistant message a turn answered with, as the client will send it back.
pub fn assistant_key(text: &str) -> u64 {
    history_keys(&[json!({"role": "assistant", "content": text})])[0]
}

/// Content blocks of a message, for the transcript: text and images kept, tool calls and results
/// written out as text, thinking left out.
fn transcript_blocks(content: &Value, out: &mut Vec<Value>) {
    let text = |out: &mut Vec<Value>, t: String| out.push(json!({"type": "text", "text": t}));
    match content {
        Value::String(s) => text(out, s.clone()),
        Value::Array(blocks) => {
            for b in blocks {
                match b["type"].as_str() {
                    Some("text") => text(out, b["text"].as_str().unwrap_or("").to_string()),
                    Some("image" | "document") => out.push(b.clone()),
                    Some("tool_use") => text(
                        out,
                        format!("⏺ {}({})", b["name"].as_str().unwrap_or("tool"), b["input"]),
                    ),
                    Some("tool_result") => text(out, format!("  ⎿ {}", plain_text(&b["content"]))),
                    _ => {}
                }
            }
        }
        _ => {}
    }
}

/// The user message content that gives the CLI `messages[skip..]`: the last message as it is
/// when it is the only one, else a transcript of the earlier ones followed by the last.
pub fn user_content(messages: &[Value], skip: usize) -> Value {
    let new = &messages[skip.min(messages.len())..];
    let Some((last, earlier)) = new.split_last() else {
        return json!("");
    };
    if earlier.is_empty() {
        return last["content"].clone();
    }
    let mut blocks = vec![json!({"type": "text", "text":
        "The conversation so far, for context (you wrote the assistant turns):\n<conversation>"})];
    for m in earlier {
        let role = m["role"].as_str().unwrap_or("user");
        blocks.push(json!({"type": "text", "text": format!("<{role}>")}));
        transcript_blocks(&m["content"], &mut blocks);
        blocks.push(json!({"type": "text", "text": format!("</{role}>")}));
    }
    blocks.push(json!({"type": "text", "text": "</conversation>\n\nMy new message:"}));
    match &last["content"] {
        Value::Array(b) => blocks.extend(b.iter().cloned()),
        other => blocks.push(json!({"type": "text", "text": other.as_str().unwrap_or("")})),
    }
    Value::Array(blocks)
}

/// The stdin line that sends a user turn.
pub fn user_line(content: &Value) -> String {
    json!({
        "type": "user",
        "session_id": "",
        "message": {"role": "user", "content": content},
        "parent_tool_use_id": null
    })
    .to_string()
}

/// An error a turn ended with, in Anthropic's terms.
#[derive(Debug, Clone, PartialEq)]
pub struct TurnError {
    /// The HTTP status to answer with (upstream's when the CLI reports one).
    pub status: u16,
    /// Anthropic's `error.type`.
    pub kind: String,
    pub message: String,
}

impl TurnError {
    /// The Anthropic error body.
    pub fn body(&self) -> Value {
        json!({"type": "error", "error": {"type": self.kind, "message": self.message}})
    }
}

/// How a client block index came about.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Shown {
    /// Passed through (text, thinking, server tools).
    Same,
    /// The CLI's own tool call, written out as text.
    ToolAsText,
}

/// One turn's output → the events of one Anthropic message. Feed every stdout line to
/// [`Turn::push`]; it returns events as `(name, data)`.
pub struct Turn {
    fallback_model: String,
    fallback_id: String,
    started: bool,
    next_index: usize,
    /// Upstream index in the current API message → client index.
    blocks: HashMap<u64, (usize, Shown)>,
    /// API messages seen as `stream_event`s: their `assistant` lines are not shown again.
    streamed: HashSet<String>,
    /// The current API message, when its events are streamed.
    current: Option<String>,
    stop_reason: Option<Value>,
    /// All text shown, for the session history.
    text: String,
    model: Option<String>,
    done: bool,
    error: Option<TurnError>,
    cost_usd: Option<f64>,
    rate_limit: Option<Value>,
}

/// The named events of one step.
pub type Events = Vec<(&'static str, Value)>;

impl Turn {
    /// `model` and `id` are used only when the CLI says nothing about them (a turn that fails
    /// before any API call).
    pub fn new(model: &str, id: &str) -> Self {
        Self {
            fallback_model: model.to_string(),
            fallback_id: id.to_string(),
            started: false,
            next_index: 0,
            blocks: HashMap::new(),
            streamed: HashSet::new(),
            current: None,
            stop_reason: None,
            text: String::new(),
            model: None,
            done: false,
            error: None,
            cost_usd: None,
            rate_limit: None,
        }
    }

    /// Whether the `result` line has been seen.
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// Whether `message_start` has been emitted (after which errors go in the stream).
    pub fn has_started(&self) -> bool {
        self.started
    }

    /// The error the turn ended with, if any.
    pub fn error(&self) -> Option<&TurnError> {
        self.error.as_ref()
    }

    /// All text shown to the client (the assistant message, as a client sends it back).
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The CLI's own cost of the turn (`total_cost_usd`).
    pub fn cost_usd(&self) -> Option<f64> {
        self.cost_usd
    }

    /// The latest `rate_limit_info` the CLI reported (`rate_limit_event`: the subscription's
    /// quota windows, read from upstream's headers by the CLI).
    pub fn rate_limit(&self) -> Option<&Value> {
        self.rate_limit.as_ref()
    }

    /// The model that served the turn.
    pub fn model(&self) -> Option<&str> {
        self.model.as_deref()
    }

    fn start(&mut self, message: &Value, out: &mut Events) {
        if self.started {
            return;
        }
        self.started = true;
        let model = message["model"]
            .as_str()
            .filter(|m| !m.starts_with('<'))
            .unwrap_or(&self.fallback_model)
            .to_string();
        self.model = Some(model.clone());
        let id = message["id"]
            .as_str()
            .filter(|i| i.starts_with("msg_"))
            .unwrap_or(&self.fallback_id);
        let mut usage = message["usage"].clone();
        if !usage.is_object() {
            usage = json!({"input_tokens": 0, "output_tokens": 0});
        }
        out.push((
            "message_start",
            json!({"type": "message_start", "message": {
                "id": id, "type": "message", "role": "assistant", "model": model,
                "content": [], "stop_reason": null, "stop_sequence": null, "usage": usage
            }}),
        ));
    }

    fn text_block(&mut self, text: &str, out: &mut Events) {
        let index = self.next_index;
        self.next_index += 1;
        self.text.push_str(text);
        out.push((
            "content_block_start",
            json!({"type": "content_block_start", "index": index, "content_block": {"type": "text", "text": ""}}),
        ));
        out.push((
            "content_block_delta",
            json!({"type": "content_block_delta", "index": index, "delta": {"type": "text_delta", "text": text}}),
        ));
        out.push((
            "content_block_stop",
            json!({"type": "content_block_stop", "index": index}),
        ));
    }

    fn text_delta(&mut self, index: usize, text: String, out: &mut Events) {
        self.text.push_str(&text);
        out.push((
            "content_block_delta",
            json!({"type": "content_block_delta", "index": index, "delta": {"type": "text_delta", "text": text}}),
        ));
    }

    /// One stdout line of the CLI.
    pub fn push(&mut self, line: &Value) -> Events {
        let mut out = Vec::new();
        if self.done {
            return out;
        }
        // Sub-agents' own traffic is the CLI's business.
        if !line["parent_tool_use_id"].is_null() {
            return out;
        }
        match line["type"].as_str() {
            Some("stream_event") => self.stream_event(&line["event"], &mut out),
            Some("assistant") => self.assistant(line, &mut out),
            Some("user") => self.tool_results(&line["message"]["content"], &mut out),
            Some("result") => self.result(line, &mut out),
            Some("rate_limit_event") => self.rate_limit = Some(line["rate_limit_info"].clone()),
            _ => {}
        }
        out
    }

    fn stream_event(&mut self, event: &Value, out: &mut Events) {
        match event["type"].as_str() {
            Some("message_start") => {
                let message = &event["message"];
                self.current = message["id"].as_str().map(String::from);
                if let Some(id) = &self.current {
                    self.streamed.insert(id.clone());
                }
                self.blocks.clear();
                self.start(message, out);
            }
            Some("content_block_start") => {
                self.start(&Value::Null, out);
                let upstream = event["index"].as_u64().unwrap_or(0);
                let index = self.next_index;
                self.next_index += 1;
                let block = &event["content_block"];
                if block["type"] == "tool_use" {
                    self.blocks.insert(upstream, (index, Shown::ToolAsText));
                    out.push((
                        "content_block_start",
                        json!({"type": "content_block_start", "index": index, "content_block": {"type": "text", "text": ""}}),
                    ));
                    let name = block["name"].as_str().unwrap_or("tool");
                    self.text_delta(index, format!("\n⏺ {name}("), out);
                } else {
                    self.blocks.insert(upstream, (index, Shown::Same));
                    if let Some(t) = block["text"].as_str() {
                        self.text.push_str(t);
                    }
                    let mut e = event.clone();
                    e["index"] = json!(index);
                    out.push(("content_block_start", e));
                }
            }
            Some("content_block_delta") => {
                let upstream = event["index"].as_u64().unwrap_or(0);
                let Some(&(index, shown)) = self.blocks.get(&upstream) else {
                    return;
                };
                match shown {
                    Shown::ToolAsText => {
                        if let Some(p) = event["delta"]["partial_json"].as_str() {
                            self.text_delta(index, p.to_string(), out);
                        }
                    }
                    Shown::Same => {
                        if let Some(t) = event["delta"]["text"].as_str() {
                            self.text.push_str(t);
                        }
                        let mut e = event.clone();
                        e["index"] = json!(index);
                        out.push(("content_block_delta", e));
                    }
                }
            }
            Some("content_block_stop") => {
                let upstream = event["index"].as_u64().unwrap_or(0);
                let Some(&(index, shown)) = self.blocks.get(&upstream) else {
                    return;
                };
                if shown == Shown::ToolAsText {
                    self.text_delta(index, ")\n".to_string(), out);
                }
                out.push((
                    "content_block_stop",
                    json!({"type": "content_block_stop", "index": index}),
                ));
            }
            Some("message_delta") => {
                if let Some(r) = event["delta"].get("stop_reason") {
                    self.stop_reason = Some(r.clone());
                }
            }
            _ => {}
        }
    }

    fn assistant(&mut self, line: &Value, out: &mut Events) {
        let message = &line["message"];
        // The CLI's rendering of an API error is not content: the `result` line reports it.
        if line["is_api_error_message"] == true || line.get("error").is_some_and(|e| !e.is_null()) {
            return;
        }
        if let Some(id) = message["id"].as_str() {
            if self.streamed.contains(id) {
                return;
            }
        }
        self.start(message, out);
        for block in message["content"].as_array().into_iter().flatten() {
            match block["type"].as_str() {
                Some("text") => {
                    let text = block["text"].as_str().unwrap_or("").to_string();
                    self.text_block(&text, out);
                }
                Some("tool_use") => {
                    let text = format!(
                        "\n⏺ {}({})\n",
                        block["name"].as_str().unwrap_or("tool"),
                        block["input"]
                    );
                    self.text_block(&text, out);
                }
                Some("thinking") => {
                    let index = self.next_index;
                    self.next_index += 1;
                    out.push((
                        "content_block_start",
                        json!({"type": "content_block_start", "index": index, "content_block": {"type": "thinking", "thinking": ""}}),
                    ));
                    out.push((
                        "content_block_delta",
                        json!({"type": "content_block_delta", "index": index, "delta": {"type": "thinking_delta", "thinking": block["thinking"]}}),
                    ));
                    if block["signature"].is_string() {
                        out.push((
                            "content_block_delta",
                            json!({"type": "content_block_delta", "index": index, "delta": {"type": "signature_delta", "signature": block["signature"]}}),
                        ));
                    }
                    out.push((
                        "content_block_stop",
                        json!({"type": "content_block_stop", "index": index}),
                    ));
                }
                _ => {}
            }
        }
        if let Some(r) = message.get("stop_reason").filter(|r| !r.is_null()) {
            self.stop_reason = Some(r.clone());
        }
    }

    fn tool_results(&mut self, content: &Value, out: &mut Events) {
        for block in content.as_array().into_iter().flatten() {
            if block["type"] != "tool_result" {
                continue;
            }
            let mut shown = plain_text(&block["content"]);
            if shown.len() > TOOL_RESULT_SHOWN {
                let mut cut = TOOL_RESULT_SHOWN;
                while !shown.is_char_boundary(cut) {
                    cut -= 1;
                }
                shown.truncate(cut);
                shown.push_str(" …");
            }
            let shown = shown.trim_end().replace('\n', "\n    ");
            let marker = if block["is_error"] == true {
                "  ⎿ (error) "
            } else {
                "  ⎿ "
            };
            self.start(&Value::Null, out);
            self.text_block(&format!("{marker}{shown}\n"), out);
        }
    }

    fn result(&mut self, line: &Value, out: &mut Events) {
        self.done = true;
        self.cost_usd = line["total_cost_usd"].as_f64();
        if line["is_error"] == true {
            let status = line["api_error_status"]
                .as_u64()
                .and_then(|s| u16::try_from(s).ok())
                .unwrap_or(500);
            let kind = line["api_error_type"]
                .as_str()
                .map(String::from)
                .unwrap_or_else(|| {
                    match status {
                        400 => "invalid_request_error",
                        401 => "authentication_error",
                        403 => "permission_error",
                        429 => "rate_limit_error",
                        529 => "overloaded_error",
                        _ => "api_error",
                    }
                    .to_string()
                });
            let message = line["result"]
                .as_str()
                .filter(|r| !r.is_empty())
                .map(String::from)
                .or_else(|| {
                    line["errors"].as_array().map(|e| {
                        e.iter()
                            .filter_map(Value::as_str)
                            .collect::<Vec<_>>()
                            .join("; ")
                    })
                })
                .filter(|m| !m.is_empty())
                .unwrap_or_else(|| {
                    format!(
                        "the claude CLI ended the turn with an error ({})",
                        line["subtype"].as_str().unwrap_or("unknown")
                    )
                });
            let error = TurnError {
                status,
                kind,
                message,
            };
            if self.started {
                out.push(("error", error.body()));
            }
            self.error = Some(error);
            return;
        }
        self.start(&Value::Null, out);
        let u = &line["usage"];
        let mut usage = Map::new();
        for k in [
            "input_tokens",
            "output_tokens",
            "cache_creation_input_tokens",
            "cache_read_input_tokens",
        ] {
            usage.insert(k.into(), json!(u[k].as_u64().unwrap_or(0)));
        }
        if u["cache_creation"].is_object() {
            usage.insert("cache_creation".into(), u["cache_creation"].clone());
        }
        let stop_reason = match line["stop_reason"].as_str() {
            // The CLI ran its own tools; for the client the turn is over.
            Some("tool_use") | None => "end_turn".to_string(),
            Some(r) => r.to_string(),
        };
        out.push((
            "message_delta",
            json!({"type": "message_delta", "delta": {"stop_reason": stop_reason, "stop_sequence": null}, "usage": usage}),
        ));
        out.push(("message_stop", json!({"type": "message_stop"})));
    }

    /// The process ended (or was given up on) before the `result` line: the error to report.
    pub fn abandon(&mut self, why: &str) -> Events {
        let mut out = Vec::new();
        if self.done {
            return out;
        }
        self.done = true;
        let error = TurnError {
            status: 502,
            kind: "api_error".into(),
            message: why.to_string(),
        };
        if self.started {
            out.push(("error", error.body()));
        }
        self.error = Some(error);
        out
    }
}
