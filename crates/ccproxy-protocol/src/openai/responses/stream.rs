//! Anthropic stream events → the Responses streaming event sequence (`response.created` …
//! `response.completed`, each with a `sequence_number`), as a synchronous state machine.

use super::{call_item, envelope, item_id, message_item, reasoning_item, usage, Echo};
use crate::openai::ResponseContext;
use crate::sse::SseEvent;
use serde_json::{json, Value};
use std::collections::HashMap;

#[derive(Debug, Clone)]
enum Item {
    Message {
        output: usize,
        text: String,
    },
    Reasoning {
        output: usize,
        text: String,
        /// The thinking block as it grows (its signature arrives last), sealed when done.
        block: Value,
    },
    Call {
        output: usize,
        call_id: Value,
        name: Value,
        arguments: String,
    },
    Skip,
}

/// Anthropic stream events → Responses stream events (`(event name, data)` pairs).
#[derive(Debug)]
pub struct ResponsesStream {
    ctx: ResponseContext,
    echo: Echo,
    seq: u64,
    items: HashMap<u64, Item>,
    output: Vec<Value>,
    usage: Value,
    stop_reason: Option<String>,
    done: bool,
    /// The final response object, once the stream has ended with one.
    last: Option<Value>,
}

impl ResponsesStream {
    pub fn new(ctx: ResponseContext, echo: Echo) -> Self {
        Self {
            ctx,
            echo,
            seq: 0,
            items: HashMap::new(),
            output: Vec::new(),
            usage: json!({}),
            stop_reason: None,
            done: false,
            last: None,
        }
    }

    /// The response object the stream ended with (`completed`, `incomplete` or `failed`).
    pub fn last_response(&self) -> Option<&Value> {
        self.last.as_ref()
    }

    pub fn is_done(&self) -> bool {
        self.done
    }

    fn event(&mut self, name: &str, mut data: Value) -> (String, Value) {
        data["type"] = name.into();
        data["sequence_number"] = self.seq.into();
        self.seq += 1;
        (name.to_string(), data)
    }

    fn snapshot(&self, status: &str) -> Value {
        envelope(
            &self.ctx,
            &self.echo,
            status,
            self.output.clone(),
            usage(&self.usage),
            self.stop_reason.as_deref(),
        )
    }

    /// The events for one upstream event.
    pub fn push(&mut self, event: &SseEvent) -> Vec<(String, Value)> {
        match crate::anthropic::decode_event(event) {
            Some((kind, data)) => self.push_event(&kind, &data),
            None => Vec::new(),
        }
    }

    /// The output for one event already decoded: its type (`message_start`, …) and data.
    pub fn push_event(&mut self, kind: &str, data: &Value) -> Vec<(String, Value)> {
        if self.done {
            return Vec::new();
        }
        let mut out = Vec::new();
        match kind {
            "message_start" => {
                crate::openai::merge_usage(&mut self.usage, &data["message"]["usage"]);
                let created = self.snapshot("in_progress");
                out.push(self.event("response.created", json!({"response": created})));
                let progress = self.snapshot("in_progress");
                out.push(self.event("response.in_progress", json!({"response": progress})));
            }
            "content_block_start" => {
                let index = data["index"].as_u64().unwrap_or(0);
                let block = &data["content_block"];
                let o = self.output.len();
                let structured = self.ctx.structured_tool.as_deref() == block["name"].as_str();
                let item = match block["type"].as_str() {
                    Some("text") => Item::Message {
                        output: o,
                        text: String::new(),
                    },
                    Some("tool_use") if structured => Item::Message {
                        output: o,
                        text: String::new(),
                    },
                    Some("thinking" | "redacted_thinking") => Item::Reasoning {
                        output: o,
                        text: String::new(),
                        block: block.clone(),
                    },
                    Some("tool_use") => Item::Call {
                        output: o,
                        call_id: block["id"].clone(),
                        name: block["name"].clone(),
                        arguments: String::new(),
                    },
                    _ => Item::Skip,
                };
                match &item {
                    Item::Message { .. } => {
                        let id = item_id(&self.ctx, "msg", o);
                        let mut added = message_item(id.clone(), "", "in_progress");
                        added["content"] = json!([]);
                        self.output.push(added.clone());
                        out.push(self.event(
                            "response.output_item.added",
                            json!({"output_index": o, "item": added}),
                        ));
                        out.push(self.event(
                            "response.content_part.added",
                            json!({"item_id": id, "output_index": o, "content_index": 0,
                            "part": {"type": "output_text", "text": "", "annotations": []}}),
                        ));
                    }
                    Item::Reasoning { .. } => {
                        let id = item_id(&self.ctx, "rs", o);
                        let added = json!({"type": "reasoning", "id": id, "summary": []});
                        self.output.push(added.clone());
                        out.push(self.event(
                            "response.output_item.added",
                            json!({"output_index": o, "item": added}),
                        ));
                        out.push(self.event(
                            "response.reasoning_summary_part.added",
                            json!({"item_id": id, "output_index": o, "summary_index": 0,
                            "part": {"type": "summary_text", "text": ""}}),
                        ));
                    }
                    Item::Call { call_id, name, .. } => {
                        let added = call_item(
                            &self.ctx,
                            item_id(&self.ctx, "fc", o),
                            call_id,
                            name,
                            "",
                            "in_progress",
                        );
                        self.output.push(added.clone());
                        out.push(self.event(
                            "response.output_item.added",
                            json!({"output_index": o, "item": added}),
                        ));
                    }
                    Item::Skip => {}
                }
                self.items.insert(index, item);
            }
            "content_block_delta" => {
                let index = data["index"].as_u64().unwrap_or(0);
                let delta = &data["delta"];
                if let (Some(signature), Some(Item::Reasoning { block, .. })) =
                    (delta["signature"].as_str(), self.items.get_mut(&index))
                {
                    let mut whole = block["signature"].as_str().unwrap_or_default().to_string();
                    whole.push_str(signature);
                    block["signature"] = whole.into();
                    return out;
                }
                let piece = delta["text"]
                    .as_str()
                    .or(delta["thinking"].as_str())
                    .or(delta["partial_json"].as_str())
                    .unwrap_or("");
                if piece.is_empty() {
                    return out;
                }
                let ctx = self.ctx.clone();
                match self.items.get_mut(&index) {
                    Some(Item::Message { output, text }) => {
                        text.push_str(piece);
                        let o = *output;
                        out.push(self.event("response.output_text.delta", json!({"item_id": item_id(&ctx, "msg", o), "output_index": o, "content_index": 0, "delta": piece})));
                    }
                    Some(Item::Reasoning { output, text, .. }) => {
                        text.push_str(piece);
                        let o = *output;
                        out.push(self.event("response.reasoning_summary_text.delta", json!({"item_id": item_id(&ctx, "rs", o), "output_index": o, "summary_index": 0, "delta": piece})));
                    }
                    Some(Item::Call {
                        output, arguments, ..
                    }) => {
                        arguments.push_str(piece);
                        let o = *output;
                        out.push(self.event("response.function_call_arguments.delta", json!({"item_id": item_id(&ctx, "fc", o), "output_index": o, "delta": piece})));
                    }
                    _ => {}
                }
            }
            "content_block_stop" => {
                let index = data["index"].as_u64().unwrap_or(0);
                let ctx = self.ctx.clone();
                match self.items.remove(&index) {
                    Some(Item::Message { output, text }) => {
                        let id = item_id(&ctx, "msg", output);
                        let done = message_item(id.clone(), &text, "completed");
                        self.output[output] = done.clone();
                        out.push(self.event("response.output_text.done", json!({"item_id": id, "output_index": output, "content_index": 0, "text": text})));
                        out.push(self.event(
                            "response.content_part.done",
                            json!({"item_id": id, "output_index": output, "content_index": 0,
                            "part": {"type": "output_text", "text": text, "annotations": []}}),
                        ));
                        out.push(self.event(
                            "response.output_item.done",
                            json!({"output_index": output, "item": done}),
                        ));
                    }
                    Some(Item::Reasoning {
                        output,
                        text,
                        mut block,
                    }) => {
                        let id = item_id(&ctx, "rs", output);
                        if block["type"] == "thinking" {
                            block["thinking"] = text.clone().into();
                        }
                        let done = reasoning_item(id.clone(), &text, Some(&block));
                        self.output[output] = done.clone();
                        out.push(self.event("response.reasoning_summary_text.done", json!({"item_id": id, "output_index": output, "summary_index": 0, "text": text})));
                        out.push(self.event(
                            "response.reasoning_summary_part.done",
                            json!({"item_id": id, "output_index": output, "summary_index": 0,
                            "part": {"type": "summary_text", "text": text}}),
                        ));
                        out.push(self.event(
                            "response.output_item.done",
                            json!({"output_index": output, "item": done}),
                        ));
                    }
                    Some(Item::Call {
                        output,
                        call_id,
                        name,
                        arguments,
                    }) => {
                        let arguments = if arguments.is_empty() {
                            "{}".to_string()
                        } else {
                            arguments
                        };
                        let id = item_id(&ctx, "fc", output);
                        let done = call_item(
                            &self.ctx,
                            id.clone(),
                            &call_id,
                            &name,
                            &arguments,
                            "completed",
                        );
                        self.output[output] = done.clone();
                        out.push(self.event(
                            "response.function_call_arguments.done",
                            json!({"item_id": id, "output_index": output, "arguments": arguments}),
                        ));
                        out.push(self.event(
                            "response.output_item.done",
                            json!({"output_index": output, "item": done}),
                        ));
                    }
                    _ => {}
                }
            }
            "message_delta" => {
                if let Some(reason) = data["delta"]["stop_reason"].as_str() {
                    self.stop_reason = Some(reason.to_string());
                }
                crate::openai::merge_usage(&mut self.usage, &data["usage"]);
            }
            "message_stop" => {
                self.done = true;
                let response = self.snapshot("completed");
                let name = if response["status"] == "incomplete" {
                    "response.incomplete"
                } else {
                    "response.completed"
                };
                self.last = Some(response.clone());
                out.push(self.event(name, json!({"response": response})));
            }
            "error" => {
                let message = data["error"]["message"]
                    .as_str()
                    .unwrap_or("upstream error")
                    .to_string();
                let code = data["error"]["type"]
                    .as_str()
                    .unwrap_or("api_error")
                    .to_string();
                out.extend(self.fail(&code, &message));
            }
            _ => {}
        }
        out
    }

    /// `error` (its fields at the top, as OpenAI's SDKs read them, and nested in `error`, as the
    /// Open Responses spec has them), then `response.failed`.
    fn fail(&mut self, code: &str, message: &str) -> Vec<(String, Value)> {
        self.done = true;
        let mut failed = self.snapshot("failed");
        failed["error"] = json!({"code": code, "message": message});
        self.last = Some(failed.clone());
        let kind = crate::error::openai_type_and_code(code, 500).0;
        vec![
            self.event(
                "error",
                json!({"code": code, "message": message, "param": null,
                       "error": {"type": kind, "code": code, "message": message, "param": null}}),
            ),
            self.event("response.failed", json!({"response": failed})),
        ]
    }

    /// Ends the stream; if upstream stopped early, `error` and `response.failed` say so.
    pub fn finish(&mut self) -> Vec<(String, Value)> {
        if self.done {
            return Vec::new();
        }
        self.fail(
            "stream_interrupted",
            "the upstream stream ended unexpectedly",
        )
    }
}
