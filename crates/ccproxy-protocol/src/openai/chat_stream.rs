//! Anthropic stream events → OpenAI Chat Completion chunks, as a synchronous state machine:
//! [`ChatStream::push`] takes one decoded event and returns the chunks it produces.
//!
//! Per content block (by index) it knows whether the block is text, thinking, a tool call (with
//! its stable OpenAI `index`, counted in order of appearance whatever came before) or the
//! forced structured-output tool (whose JSON is streamed as content).

use super::{finish_reason, usage, ResponseContext};
use crate::sse::SseEvent;
use serde_json::{json, Value};
use std::collections::HashMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Block {
    Text,
    Thinking,
    Tool(usize),
    Structured,
    Other,
}

/// The translation state of one stream.
#[derive(Debug)]
pub struct ChatStream {
    ctx: ResponseContext,
    blocks: HashMap<u64, Block>,
    /// Thinking blocks as they stream (text, then signature), by index: each is sent whole as a
    /// `thinking_blocks` delta when it ends (see `openai::reasoning`).
    thinking: HashMap<u64, Value>,
    tools: usize,
    usage: Value,
    stop_reason: Option<String>,
    done: bool,
}

impl ChatStream {
    pub fn new(ctx: ResponseContext) -> Self {
        Self {
            ctx,
            blocks: HashMap::new(),
            thinking: HashMap::new(),
            tools: 0,
            usage: json!({}),
            stop_reason: None,
            done: false,
        }
    }

    /// Whether the stream reached its end (or an error).
    pub fn is_done(&self) -> bool {
        self.done
    }

    fn chunk(&self, delta: Value, finish: Option<&str>) -> Value {
        let mut c = json!({
            "id": self.ctx.id,
            "object": "chat.completion.chunk",
            "created": self.ctx.created,
            "model": self.ctx.model,
            "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}],
        });
        if self.ctx.include_usage {
            c["usage"] = Value::Null;
        }
        c
    }

    /// The chunks for one upstream event.
    pub fn push(&mut self, event: &SseEvent) -> Vec<Value> {
        match crate::anthropic::decode_event(event) {
            Some((kind, data)) => self.push_event(&kind, &data),
            None => Vec::new(),
        }
    }

    /// The output for one event already decoded: its type (`message_start`, …) and data.
    pub fn push_event(&mut self, kind: &str, data: &Value) -> Vec<Value> {
        if self.done {
            return Vec::new();
        }
        match kind {
            "message_start" => {
                super::merge_usage(&mut self.usage, &data["message"]["usage"]);
                vec![self.chunk(json!({"role": "assistant", "content": ""}), None)]
            }
            "content_block_start" => {
                let index = data["index"].as_u64().unwrap_or(0);
                let block = &data["content_block"];
                let (state, out) = match block["type"].as_str() {
                    Some("text") => {
                        let text = block["text"].as_str().unwrap_or_default();
                        let out =
                            (!text.is_empty()).then(|| self.chunk(json!({"content": text}), None));
                        (Block::Text, out)
                    }
                    Some("thinking") => {
                        self.thinking.insert(index, block.clone());
                        (Block::Thinking, None)
                    }
                    Some("redacted_thinking") => {
                        let out = super::reasoning::valid_block(block)
                            .map(|b| self.chunk(json!({"thinking_blocks": [b]}), None));
                        (Block::Other, out)
                    }
                    Some("tool_use")
                        if self.ctx.structured_tool.as_deref() == block["name"].as_str() =>
                    {
                        (Block::Structured, None)
                    }
                    Some("tool_use") => {
                        let i = self.tools;
                        self.tools += 1;
                        let out = self.chunk(
                            json!({"tool_calls": [{
                                "index": i,
                                "id": block["id"],
                                "type": "function",
                                "function": {"name": block["name"], "arguments": ""},
                            }]}),
                            None,
                        );
                        (Block::Tool(i), Some(out))
                    }
                    _ => (Block::Other, None),
                };
                self.blocks.insert(index, state);
                out.into_iter().collect()
            }
            "content_block_delta" => {
                let index = data["index"].as_u64().unwrap_or(0);
                let delta = &data["delta"];
                let state = self.blocks.get(&index).copied().unwrap_or(Block::Other);
                if let Some(block) = self.thinking.get_mut(&index) {
                    for key in ["thinking", "signature"] {
                        if let Some(more) = delta[key].as_str() {
                            let whole = block[key].as_str().unwrap_or_default().to_string() + more;
                            block[key] = whole.into();
                        }
                    }
                }
                let piece = |key: &str| delta[key].as_str().filter(|s| !s.is_empty());
                let out = match (state, delta["type"].as_str()) {
                    (Block::Text, Some("text_delta")) => {
                        piece("text").map(|t| json!({"content": t}))
                    }
                    (Block::Thinking, Some("thinking_delta")) => {
                        piece("thinking").map(|t| json!({"reasoning_content": t}))
                    }
                    (Block::Structured, Some("input_json_delta")) => {
                        piece("partial_json").map(|t| json!({"content": t}))
                    }
                    (Block::Tool(i), Some("input_json_delta")) => piece("partial_json").map(
                        |t| json!({"tool_calls": [{"index": i, "function": {"arguments": t}}]}),
                    ),
                    _ => None,
                };
                out.map(|d| self.chunk(d, None)).into_iter().collect()
            }
            "content_block_stop" => {
                let index = data["index"].as_u64().unwrap_or(0);
                let block = self.thinking.remove(&index);
                block
                    .as_ref()
                    .and_then(super::reasoning::valid_block)
                    .map(|b| self.chunk(json!({"thinking_blocks": [b]}), None))
                    .into_iter()
                    .collect()
            }
            "message_delta" => {
                if let Some(reason) = data["delta"]["stop_reason"].as_str() {
                    self.stop_reason = Some(reason.to_string());
                }
                super::merge_usage(&mut self.usage, &data["usage"]);
                Vec::new()
            }
            "message_stop" => {
                self.done = true;
                let finish = finish_reason(
                    Some(self.stop_reason.as_deref().unwrap_or("end_turn")),
                    self.ctx.structured_tool.is_some(),
                );
                let mut out = vec![self.chunk(json!({}), finish)];
                if self.ctx.include_usage {
                    out.push(json!({
                        "id": self.ctx.id,
                        "object": "chat.completion.chunk",
                        "created": self.ctx.created,
                        "model": self.ctx.model,
                        "choices": [],
                        "usage": usage(&self.usage),
                    }));
                }
                out
            }
            "error" => {
                self.done = true;
                vec![super::error_body(data, 500)]
            }
            _ => Vec::new(),
        }
    }

    /// Ends the stream. If upstream stopped before `message_stop`, an error chunk says so.
    pub fn finish(&mut self) -> Vec<Value> {
        if self.done {
            return Vec::new();
        }
        self.done = true;
        vec![crate::error::openai_error(
            "the upstream stream ended unexpectedly",
            "api_error",
            None,
            "stream_interrupted",
        )]
    }
}

/// Folds chunks back into one Chat Completion (the shape `chat_response::translate` makes).
/// Used by tests and for `stream: false` requests served from a stream.
pub fn accumulate(chunks: &[Value]) -> Value {
    let mut text = String::new();
    let mut reasoning = String::new();
    let mut tools: Vec<Value> = Vec::new();
    let mut thinking_blocks: Vec<Value> = Vec::new();
    let mut finish = Value::Null;
    let mut usage = Value::Null;
    let mut head = json!({});
    for c in chunks {
        if head.get("id").is_none() {
            head = json!({"id": c["id"], "created": c["created"], "model": c["model"]});
        }
        if !c["usage"].is_null() {
            usage = c["usage"].clone();
        }
        let Some(choice) = c["choices"].get(0) else {
            continue;
        };
        let d = &choice["delta"];
        if let Some(t) = d["content"].as_str() {
            text.push_str(t);
        }
        if let Some(t) = d["reasoning_content"].as_str() {
            reasoning.push_str(t);
        }
        thinking_blocks.extend(
            d["thinking_blocks"]
                .as_array()
                .into_iter()
                .flatten()
                .cloned(),
        );
        for call in d["tool_calls"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default()
        {
            let i = call["index"].as_u64().unwrap_or(0) as usize;
            if tools.len() <= i {
                tools.resize(
                    i + 1,
                    json!({"type": "function", "function": {"arguments": ""}}),
                );
            }
            let t = &mut tools[i];
            if !call["id"].is_null() {
                t["id"] = call["id"].clone();
                t["function"]["name"] = call["function"]["name"].clone();
            }
            if let Some(a) = call["function"]["arguments"].as_str() {
                let so_far = t["function"]["arguments"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string();
                t["function"]["arguments"] = Value::String(so_far + a);
            }
        }
        if !choice["finish_reason"].is_null() {
            finish = choice["finish_reason"].clone();
        }
    }
    let mut msg = json!({
        "role": "assistant",
        "content": if text.is_empty() && !tools.is_empty() { Value::Null } else { Value::String(text) },
        "refusal": null,
        "annotations": [],
    });
    if !reasoning.is_empty() {
        msg["reasoning_content"] = Value::String(reasoning);
    }
    if !tools.is_empty() {
        // Arguments were streamed as text; normalise them like the non-streamed path does.
        for t in &mut tools {
            if let Some(a) = t["function"]["arguments"].as_str() {
                if let Ok(v) = serde_json::from_str::<Value>(a) {
                    t["function"]["arguments"] = Value::String(v.to_string());
                }
            }
        }
        msg["tool_calls"] = Value::Array(tools);
        if !thinking_blocks.is_empty() {
            msg["thinking_blocks"] = Value::Array(thinking_blocks);
        }
    }
    json!({
        "id": head["id"],
        "object": "chat.completion",
        "created": head["created"],
        "model": head["model"],
        "choices": [{"index": 0, "message": msg, "logprobs": null, "finish_reason": finish}],
        "usage": usage,
    })
}
