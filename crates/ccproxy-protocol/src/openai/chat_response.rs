//! Anthropic Messages response → OpenAI Chat Completion.

use super::{finish_reason, usage, ResponseContext};
use serde_json::{json, Value};

/// Translates a whole (non-streamed) Anthropic message.
pub fn translate(message: &Value, ctx: &ResponseContext) -> Value {
    let mut text = String::new();
    let mut reasoning = String::new();
    let mut tool_calls = Vec::new();
    let mut thinking_blocks = Vec::new();
    for block in message["content"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
    {
        match block["type"].as_str() {
            Some("text") => text.push_str(block["text"].as_str().unwrap_or_default()),
            Some("thinking") => {
                reasoning.push_str(block["thinking"].as_str().unwrap_or_default());
                thinking_blocks.extend(super::reasoning::valid_block(block));
            }
            Some("redacted_thinking") => {
                thinking_blocks.extend(super::reasoning::valid_block(block))
            }
            Some("tool_use") if ctx.structured_tool.as_deref() == block["name"].as_str() => {
                text.push_str(&block["input"].to_string());
            }
            Some("tool_use") => tool_calls.push(json!({
                "id": block["id"],
                "type": "function",
                "function": {"name": block["name"], "arguments": block["input"].to_string()},
            })),
            _ => {}
        }
    }
    let mut msg = json!({
        "role": "assistant",
        "content": if text.is_empty() && !tool_calls.is_empty() { Value::Null } else { Value::String(text) },
        "refusal": null,
        "annotations": [],
    });
    if !reasoning.is_empty() {
        msg["reasoning_content"] = Value::String(reasoning);
    }
    if !tool_calls.is_empty() {
        msg["tool_calls"] = Value::Array(tool_calls);
        // Sent back with the tool results, they let the next turn think too.
        if !thinking_blocks.is_empty() {
            msg["thinking_blocks"] = Value::Array(thinking_blocks);
        }
    }
    json!({
        "id": ctx.id,
        "object": "chat.completion",
        "created": ctx.created,
        "model": ctx.model,
        "choices": [{
            "index": 0,
            "message": msg,
            "logprobs": null,
            "finish_reason": finish_reason(message["stop_reason"].as_str(), ctx.structured_tool.is_some()),
        }],
        "usage": usage(&message["usage"]),
    })
}
