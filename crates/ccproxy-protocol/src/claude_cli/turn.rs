//! The CLI's stream-json output for one turn → the events of one Anthropic message.

use super::request::plain_text;
use super::TOOL_RESULT_SHOWN;
use serde_json::{json, Map, Value};
use std::collections::{HashMap, HashSet};

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
    /// A call of one of the client's tools: a `tool_use` block, as the API's.
    ClientTool,
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
    /// The client's tool names: their calls are shown as `tool_use` blocks and end the response.
    client_tools: HashSet<String>,
    /// Ids of the client tool calls in the response in progress.
    calls: Vec<String>,
    /// Every client tool call of the turn (the CLI's echo of their results is not shown).
    all_calls: HashSet<String>,
    /// The response ended with client tool calls; the turn waits for their results.
    paused: bool,
    /// Usage of the API message in progress, and the sum over this response's finished ones.
    message_usage: Map<String, Value>,
    response_usage: Map<String, Value>,
    /// Usage already reported in earlier responses of this turn (taken off the `result`'s total).
    reported: Map<String, Value>,
}

/// The token counts a response's `usage` sums.
const COUNTS: [&str; 4] = [
    "input_tokens",
    "output_tokens",
    "cache_creation_input_tokens",
    "cache_read_input_tokens",
];

/// Adds `from`'s counts to `into`'s.
fn add_counts(into: &mut Map<String, Value>, from: &Map<String, Value>) {
    for k in COUNTS {
        let sum = into.get(k).and_then(Value::as_u64).unwrap_or(0)
            + from.get(k).and_then(Value::as_u64).unwrap_or(0);
        into.insert(k.into(), json!(sum));
    }
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
            client_tools: HashSet::new(),
            calls: Vec::new(),
            all_calls: HashSet::new(),
            paused: false,
            message_usage: Map::new(),
            response_usage: Map::new(),
            reported: Map::new(),
        }
    }

    /// With the client's tools (by name): their calls become `tool_use` blocks that end the
    /// response ([`Turn::is_paused`]).
    pub fn with_client_tools(mut self, names: HashSet<String>) -> Self {
        self.client_tools = names;
        self
    }

    /// Whether the response ended with calls of the client's tools: the CLI waits for their
    /// results, and the turn goes on in a new response after [`Turn::resume`].
    pub fn is_paused(&self) -> bool {
        self.paused
    }

    /// The `tool_use` ids of the client tool calls the response ended with.
    pub fn calls(&self) -> &[String] {
        &self.calls
    }

    /// Starts the next response of a paused turn (message `id` if the CLI names none): the
    /// client has sent the results, the CLI goes on.
    pub fn resume(&mut self, id: &str) {
        self.fallback_id = id.to_string();
        self.started = false;
        self.next_index = 0;
        self.blocks.clear();
        self.text.clear();
        self.paused = false;
        self.calls.clear();
        self.stop_reason = None;
    }

    /// Ends the response with the client tool calls it holds (`stop_reason: tool_use`), its
    /// usage the sum of the API messages it showed.
    fn pause(&mut self, out: &mut Events) {
        let usage = std::mem::take(&mut self.response_usage);
        add_counts(&mut self.reported, &usage);
        let mut usage = usage;
        for k in COUNTS {
            usage.entry(k).or_insert(json!(0));
        }
        out.push((
            "message_delta",
            json!({"type": "message_delta", "delta": {"stop_reason": "tool_use", "stop_sequence": null, "stop_details": null}, "usage": usage}),
        ));
        out.push(("message_stop", json!({"type": "message_stop"})));
        self.paused = true;
    }

    /// Folds the finished API message's usage into the response's.
    fn message_done(&mut self) {
        let usage = std::mem::take(&mut self.message_usage);
        add_counts(&mut self.response_usage, &usage);
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
                "content": [], "container": null, "stop_reason": null, "stop_sequence": null,
                "stop_details": null, "usage": usage
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
                self.message_usage = message["usage"].as_object().cloned().unwrap_or_default();
                self.start(message, out);
            }
            Some("content_block_start") => {
                self.start(&Value::Null, out);
                let upstream = event["index"].as_u64().unwrap_or(0);
                let index = self.next_index;
                self.next_index += 1;
                let block = &event["content_block"];
                let client_call = block["type"] == "tool_use"
                    && block["name"]
                        .as_str()
                        .is_some_and(|n| self.client_tools.contains(n));
                if client_call {
                    if let Some(id) = block["id"].as_str() {
                        self.calls.push(id.to_string());
                        self.all_calls.insert(id.to_string());
                    }
                    self.blocks.insert(upstream, (index, Shown::ClientTool));
                    let mut e = event.clone();
                    e["index"] = json!(index);
                    out.push(("content_block_start", e));
                } else if block["type"] == "tool_use" {
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
                    Shown::Same | Shown::ClientTool => {
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
                if let Some(u) = event["usage"].as_object() {
                    for (k, v) in u {
                        self.message_usage.insert(k.clone(), v.clone());
                    }
                }
            }
            Some("message_stop") => {
                self.message_done();
                if !self.calls.is_empty() {
                    self.pause(out);
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
                Some("tool_use")
                    if block["name"]
                        .as_str()
                        .is_some_and(|n| self.client_tools.contains(n)) =>
                {
                    self.client_call_block(block, out);
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
        self.message_usage = message["usage"].as_object().cloned().unwrap_or_default();
        self.message_done();
        if !self.calls.is_empty() {
            self.pause(out);
        }
    }

    /// A whole client tool call (from a message that was not streamed), as the stream of a
    /// `tool_use` block.
    fn client_call_block(&mut self, block: &Value, out: &mut Events) {
        let index = self.next_index;
        self.next_index += 1;
        if let Some(id) = block["id"].as_str() {
            self.calls.push(id.to_string());
            self.all_calls.insert(id.to_string());
        }
        let mut start = block.clone();
        start["input"] = json!({});
        out.push((
            "content_block_start",
            json!({"type": "content_block_start", "index": index, "content_block": start}),
        ));
        out.push((
            "content_block_delta",
            json!({"type": "content_block_delta", "index": index, "delta": {"type": "input_json_delta", "partial_json": block["input"].to_string()}}),
        ));
        out.push((
            "content_block_stop",
            json!({"type": "content_block_stop", "index": index}),
        ));
    }

    fn tool_results(&mut self, content: &Value, out: &mut Events) {
        for block in content.as_array().into_iter().flatten() {
            if block["type"] != "tool_result" {
                continue;
            }
            // The client sent this result; it knows it.
            if block["tool_use_id"]
                .as_str()
                .is_some_and(|id| self.all_calls.contains(id))
            {
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
        // The `result` counts the whole turn; earlier responses of it reported their part.
        for k in COUNTS {
            let before = self.reported.get(k).and_then(Value::as_u64).unwrap_or(0);
            usage.insert(
                k.into(),
                json!(u[k].as_u64().unwrap_or(0).saturating_sub(before)),
            );
        }
        if u["cache_creation"].is_object() && self.reported.is_empty() {
            usage.insert("cache_creation".into(), u["cache_creation"].clone());
        }
        // As the API reports them (the CLI's `result` carries them; zeros when it does not).
        for (k, zero) in [
            ("output_tokens_details", json!({"thinking_tokens": 0})),
            (
                "server_tool_use",
                json!({"web_search_requests": 0, "web_fetch_requests": 0}),
            ),
        ] {
            let v = u.get(k).filter(|v| v.is_object()).cloned();
            usage.insert(k.into(), v.unwrap_or(zero));
        }
        let stop_reason = match line["stop_reason"].as_str() {
            // The CLI ran its own tools; for the client the turn is over.
            Some("tool_use") | None => "end_turn".to_string(),
            Some(r) => r.to_string(),
        };
        out.push((
            "message_delta",
            json!({"type": "message_delta", "delta": {"stop_reason": stop_reason, "stop_sequence": null, "stop_details": null}, "usage": usage}),
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
