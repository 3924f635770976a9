//! OpenAI Chat Completions over the Anthropic Messages API: the request, the response and the
//! stream, translated both ways. Pure: ids, timestamps and the model map are passed in.
//!
//! Every OpenAI request field is either translated, refused with a 400 naming it, or ignored
//! and reported back (the `x-ccproxy-ignored-params` response header) — never silently dropped.

pub mod chat_request;
pub mod chat_response;
pub mod chat_stream;
pub mod reasoning;
pub mod responses;

use serde_json::{json, Value};

/// A request field that cannot be honoured: 400 in OpenAI's shape, naming the field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestError {
    /// The offending field, e.g. `messages[2].tool_call_id`.
    pub param: String,
    pub message: String,
}

impl RequestError {
    pub fn new(param: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            param: param.into(),
            message: message.into(),
        }
    }

    /// `{"error":{"message","type":"invalid_request_error","param","code"}}`
    pub fn body(&self) -> Value {
        crate::error::openai_error(
            &self.message,
            "invalid_request_error",
            Some(&self.param),
            "invalid_request",
        )
    }
}

impl std::fmt::Display for RequestError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.param, self.message)
    }
}

/// What the response translation needs to know about the request.
#[derive(Debug, Clone)]
pub struct ResponseContext {
    /// `chatcmpl-…`, unique per response.
    pub id: String,
    /// Unix seconds.
    pub created: u64,
    /// The model name the client asked for (reported back as is).
    pub model: String,
    /// `stream_options.include_usage`.
    pub include_usage: bool,
    /// The tool forced to produce `response_format: json_schema` output, whose input is
    /// returned as the message content.
    pub structured_tool: Option<String>,
    /// The clock, in Unix seconds (the protocol crate reads none of its own): when a response
    /// completed.
    pub now: fn() -> u64,
    /// Function tools the client grouped in a Responses `namespace`, by the flat name Claude
    /// saw; its calls are answered with the namespace and the tool's own name again.
    pub namespaced: Vec<NamespacedTool>,
}

/// A function tool of a Responses `namespace` tool, flattened for Claude.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamespacedTool {
    /// The name Claude calls it by.
    pub flat: String,
    pub namespace: String,
    pub name: String,
}

impl NamespacedTool {
    /// The flat name of `name` in `namespace`: joined by `__` (nothing when the namespace already
    /// ends in `_`, as Codex's `mcp__server__` do), any character a Claude tool name may not hold
    /// replaced by `_`, at most 128 characters.
    pub fn flat_name(namespace: &str, name: &str) -> String {
        let joint = if namespace.ends_with('_') { "" } else { "__" };
        format!("{namespace}{joint}{name}")
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .take(128)
            .collect()
    }

    /// The namespaced tool Claude knows as `flat`, if any.
    pub fn find<'a>(tools: &'a [NamespacedTool], flat: &str) -> Option<&'a NamespacedTool> {
        tools.iter().find(|t| t.flat == flat)
    }
}

/// Anthropic `stop_reason` → OpenAI `finish_reason`.
pub fn finish_reason(stop_reason: Option<&str>, structured: bool) -> Option<&'static str> {
    Some(match stop_reason? {
        "end_turn" | "stop_sequence" | "pause_turn" => "stop",
        "max_tokens" | "model_context_window_exceeded" => "length",
        "tool_use" if structured => "stop",
        "tool_use" => "tool_calls",
        "refusal" => "content_filter",
        _ => "stop",
    })
}

/// Anthropic `usage` → OpenAI `usage`: prompt tokens include cache reads and writes.
pub fn usage(anthropic: &Value) -> Value {
    let n = |k: &str| anthropic.get(k).and_then(Value::as_u64).unwrap_or(0);
    let cache_read = n("cache_read_input_tokens");
    let prompt = n("input_tokens") + cache_read + n("cache_creation_input_tokens");
    let completion = n("output_tokens");
    json!({
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": cache_read},
        "completion_tokens_details": {"reasoning_tokens": thinking_tokens(anthropic)},
    })
}

/// The thinking tokens among the output tokens, when upstream reports them
/// (`output_tokens_details.thinking_tokens`).
pub(crate) fn thinking_tokens(anthropic: &Value) -> u64 {
    anthropic["output_tokens_details"]["thinking_tokens"]
        .as_u64()
        .unwrap_or(0)
}

/// Folds a stream event's `usage` into the usage seen so far (later non-null values win).
pub(crate) fn merge_usage(into: &mut Value, from: &Value) {
    if let (Some(into), Some(from)) = (into.as_object_mut(), from.as_object()) {
        for (k, v) in from {
            if !v.is_null() {
                into.insert(k.clone(), v.clone());
            }
        }
    }
}

/// Anthropic error body → OpenAI error body, keeping the message and mapping the type by the
/// one table ([`crate::error::openai_type_and_code`]).
pub fn error_body(anthropic: &Value, status: u16) -> Value {
    let message = anthropic["error"]["message"]
        .as_str()
        .unwrap_or("upstream error");
    let kind = anthropic["error"]["type"].as_str().unwrap_or("api_error");
    let (kind, code) = crate::error::openai_type_and_code(kind, status);
    crate::error::openai_error(message, kind, None, code)
}
