//! One Anthropic message from its stream: the [`Accumulator`] folds the events of a stream
//! (`message_start`, content block starts, deltas and stops, `message_delta`) into the message a
//! non-streamed request would have been answered with.

use serde_json::{json, Value};
use std::collections::HashMap;

/// Folds the events of one message's stream into the whole message (the non-streamed answer).
#[derive(Default)]
pub struct Accumulator {
    message: Value,
    partial_json: HashMap<u64, String>,
}

impl Accumulator {
    /// Folds one event (its type and data) into the message.
    pub fn push(&mut self, name: &str, data: &Value) {
        match name {
            "message_start" => self.message = data["message"].clone(),
            "content_block_start" => {
                if let Some(content) = self.message["content"].as_array_mut() {
                    content.push(data["content_block"].clone());
                }
            }
            "content_block_delta" => {
                let i = data["index"].as_u64().unwrap_or(0);
                let Some(block) = self.message["content"].get_mut(i as usize) else {
                    return;
                };
                let d = &data["delta"];
                let append = |block: &mut Value, key: &str, piece: &Value| {
                    let s = format!(
                        "{}{}",
                        block[key].as_str().unwrap_or(""),
                        piece.as_str().unwrap_or("")
                    );
                    block[key] = json!(s);
                };
                match d["type"].as_str() {
                    Some("text_delta") => append(block, "text", &d["text"]),
                    Some("thinking_delta") => append(block, "thinking", &d["thinking"]),
                    Some("signature_delta") => append(block, "signature", &d["signature"]),
                    Some("citations_delta") => {
                        if !block["citations"].is_array() {
                            block["citations"] = json!([]);
                        }
                        if let Some(c) = block["citations"].as_array_mut() {
                            c.push(d["citation"].clone());
                        }
                    }
                    Some("input_json_delta") => self
                        .partial_json
                        .entry(i)
                        .or_default()
                        .push_str(d["partial_json"].as_str().unwrap_or("")),
                    _ => {}
                }
            }
            "content_block_stop" => {
                let i = data["index"].as_u64().unwrap_or(0);
                if let (Some(json), Some(block)) = (
                    self.partial_json.remove(&i),
                    self.message["content"].get_mut(i as usize),
                ) {
                    block["input"] = serde_json::from_str(&json).unwrap_or(json!({}));
                }
            }
            "message_delta" => {
                for (k, v) in data["delta"].as_object().into_iter().flatten() {
                    self.message[k] = v.clone();
                }
                if let (Some(usage), Some(more)) = (
                    self.message["usage"].as_object_mut(),
                    data["usage"].as_object(),
                ) {
                    for (k, v) in more {
                        usage.insert(k.clone(), v.clone());
                    }
                }
            }
            _ => {}
        }
    }

    /// The message built so far.
    pub fn message(self) -> Value {
        self.message
    }
}
