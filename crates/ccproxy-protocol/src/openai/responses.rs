//! The OpenAI Responses API over the Anthropic Messages API.
//!
//! A Responses request is first rewritten as the equivalent Chat Completions request and then
//! translated by `chat_request` (one field policy for both surfaces; errors are renamed back to
//! the Responses field, e.g. `input[2].call_id`). The output side is its own: output items
//! (`reasoning`, `message`, `function_call`) and the streaming event sequence
//! (`response.created` … `response.completed`, each with a `sequence_number`).

mod request;
mod stream;

pub use request::translate;
pub use stream::ResponsesStream;

use super::{NamespacedTool, ResponseContext};
use serde_json::{json, Value};

/// The request settings echoed in a response object, as the spec has them (every field present,
/// defaults where the request said nothing).
#[derive(Debug, Clone, Default)]
pub struct Echo {
    pub instructions: Value,
    pub tools: Value,
    pub tool_choice: Value,
    pub max_output_tokens: Value,
    pub temperature: Value,
    pub top_p: Value,
    /// The rest, by their field names in the response object.
    pub settings: Vec<(&'static str, Value)>,
}

impl Echo {
    /// The settings of `req` (a Responses request).
    pub fn of(req: &Value) -> Self {
        let or = |k: &str, d: Value| req.get(k).filter(|v| !v.is_null()).cloned().unwrap_or(d);
        let reasoning = &req["reasoning"];
        Self {
            instructions: or("instructions", Value::Null),
            tools: normalized_tools(req.get("tools")),
            tool_choice: or("tool_choice", json!("auto")),
            max_output_tokens: or("max_output_tokens", Value::Null),
            temperature: or("temperature", json!(1.0)),
            top_p: or("top_p", json!(1.0)),
            settings: vec![
                (
                    "parallel_tool_calls",
                    or("parallel_tool_calls", json!(true)),
                ),
                (
                    "reasoning",
                    json!({"effort": reasoning["effort"], "summary": reasoning["summary"]}),
                ),
                ("text", or("text", json!({"format": {"type": "text"}}))),
                ("truncation", or("truncation", json!("disabled"))),
                ("user", or("user", Value::Null)),
                ("metadata", or("metadata", json!({}))),
                ("presence_penalty", or("presence_penalty", json!(0.0))),
                ("frequency_penalty", or("frequency_penalty", json!(0.0))),
                ("top_logprobs", or("top_logprobs", json!(0))),
                ("max_tool_calls", or("max_tool_calls", Value::Null)),
                ("service_tier", json!("default")),
                ("safety_identifier", or("safety_identifier", Value::Null)),
                ("prompt_cache_key", or("prompt_cache_key", Value::Null)),
                (
                    "previous_response_id",
                    or("previous_response_id", Value::Null),
                ),
                // Nothing runs in the background.
                ("background", json!(false)),
                // Kept (in the server's memory, for a while) unless the request says not to.
                ("store", json!(req["store"] != false)),
            ],
        }
    }
}

impl Echo {
    /// Whether the request lets its answer be kept (`store` is not `false`).
    pub fn stored(&self) -> bool {
        self.settings
            .iter()
            .any(|(k, v)| *k == "store" && *v == Value::Bool(true))
    }
}

/// The request's tools as the response echoes them: function tools with every field the spec
/// has (`description`, `strict`); others as they were sent.
fn normalized_tools(tools: Option<&Value>) -> Value {
    let Some(Value::Array(tools)) = tools else {
        return json!([]);
    };
    let normalized = tools
        .iter()
        .map(|t| {
            let mut t = t.clone();
            if t["type"] == "function" {
                if t.get("description").is_none() {
                    t["description"] = Value::Null;
                }
                if !t["strict"].is_boolean() {
                    t["strict"] = false.into();
                }
            }
            t
        })
        .collect();
    Value::Array(normalized)
}

fn usage(u: &Value) -> Value {
    let n = |k: &str| u.get(k).and_then(Value::as_u64).unwrap_or(0);
    let cached = n("cache_read_input_tokens");
    let input = n("input_tokens") + cached + n("cache_creation_input_tokens");
    let output = n("output_tokens");
    json!({
        "input_tokens": input,
        "input_tokens_details": {"cached_tokens": cached},
        "output_tokens": output,
        "output_tokens_details": {"reasoning_tokens": super::thinking_tokens(u)},
        "total_tokens": input + output,
    })
}

fn envelope(
    ctx: &ResponseContext,
    echo: &Echo,
    status: &str,
    output: Vec<Value>,
    usage: Value,
    stop: Option<&str>,
) -> Value {
    let incomplete = (stop == Some("max_tokens")).then(|| json!({"reason": "max_output_tokens"}));
    let status = if incomplete.is_some() && status == "completed" {
        "incomplete"
    } else {
        status
    };
    let mut response = json!({
        "id": ctx.id,
        "object": "response",
        "created_at": ctx.created,
        "completed_at": (status == "completed").then(|| (ctx.now)()),
        "status": status,
        "error": null,
        "incomplete_details": incomplete,
        "instructions": echo.instructions,
        "max_output_tokens": echo.max_output_tokens,
        "model": ctx.model,
        "output": output,
        "previous_response_id": null,
        "temperature": echo.temperature,
        "tool_choice": echo.tool_choice,
        "tools": echo.tools,
        "top_p": echo.top_p,
        "usage": usage,
    });
    for (key, value) in &echo.settings {
        response[*key] = value.clone();
    }
    if echo.settings.is_empty() {
        // No request to echo (a snapshot before one is known): the spec's defaults.
        for (key, value) in Echo::of(&json!({})).settings {
            response[key] = value;
        }
    }
    response
}

/// Item ids: unique per response (derived from its id) and per position.
fn item_id(ctx: &ResponseContext, prefix: &str, index: usize) -> String {
    let base = ctx.id.strip_prefix("resp_").unwrap_or(&ctx.id);
    format!("{prefix}_{base}_{index}")
}

fn message_item(id: String, text: &str, status: &str) -> Value {
    json!({"type": "message", "id": id, "status": status, "role": "assistant",
           "content": [{"type": "output_text", "text": text, "annotations": []}]})
}

/// A `reasoning` item: the thinking as its summary, and the block itself sealed in
/// `encrypted_content` (see `openai::reasoning`) when it is complete.
fn reasoning_item(id: String, text: &str, block: Option<&Value>) -> Value {
    let summary = if text.is_empty() {
        json!([])
    } else {
        json!([{"type": "summary_text", "text": text}])
    };
    let mut item = json!({"type": "reasoning", "id": id, "summary": summary});
    if let Some(sealed) = block.and_then(super::reasoning::seal) {
        item["encrypted_content"] = sealed.into();
    }
    item
}

/// A `function_call` item; a call of a namespaced tool has its namespace and own name again.
fn call_item(
    ctx: &ResponseContext,
    id: String,
    call_id: &Value,
    name: &Value,
    arguments: &str,
    status: &str,
) -> Value {
    let mut item = json!({"type": "function_call", "id": id, "call_id": call_id, "name": name, "arguments": arguments, "status": status});
    if let Some(tool) = name
        .as_str()
        .and_then(|flat| NamespacedTool::find(&ctx.namespaced, flat))
    {
        item["name"] = tool.name.clone().into();
        item["namespace"] = tool.namespace.clone().into();
    }
    item
}

/// Translates a whole Anthropic message into a Response object.
pub fn translate_response(message: &Value, ctx: &ResponseContext, echo: &Echo) -> Value {
    let mut output = Vec::new();
    for block in message["content"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
    {
        let i = output.len();
        match block["type"].as_str() {
            Some("thinking" | "redacted_thinking") => output.push(reasoning_item(
                item_id(ctx, "rs", i),
                block["thinking"].as_str().unwrap_or_default(),
                Some(block),
            )),
            Some("text") => output.push(message_item(
                item_id(ctx, "msg", i),
                block["text"].as_str().unwrap_or_default(),
                "completed",
            )),
            Some("tool_use") if ctx.structured_tool.as_deref() == block["name"].as_str() => {
                output.push(message_item(
                    item_id(ctx, "msg", i),
                    &block["input"].to_string(),
                    "completed",
                ));
            }
            Some("tool_use") => output.push(call_item(
                ctx,
                item_id(ctx, "fc", i),
                &block["id"],
                &block["name"],
                &block["input"].to_string(),
                "completed",
            )),
            _ => {}
        }
    }
    envelope(
        ctx,
        echo,
        "completed",
        output,
        usage(&message["usage"]),
        message["stop_reason"].as_str(),
    )
}
