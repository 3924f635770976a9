//! The OpenAI Responses API over the Anthropic Messages API.
//!
//! A Responses request is first rewritten as the equivalent Chat Completions request and then
//! translated by `chat_request` (one field policy for both surfaces; errors are renamed back to
//! the Responses field, e.g. `input[2].call_id`). The output side is its own: output items
//! (`reasoning`, `message`, `function_call`) and the streaming event sequence
//! (`response.created` … `response.completed`, each with a `sequence_number`).

use super::chat_request::{self, Options, Translated};
use super::{RequestError, ResponseContext};
use crate::sse::SseEvent;
use serde_json::{json, Map, Value};
use std::collections::HashMap;

/// Fields translated here; everything else goes to the Chat Completions policy.
const RESPONSES_FIELDS: [&str; 13] = [
    "model",
    "input",
    "instructions",
    "tools",
    "tool_choice",
    "max_output_tokens",
    "reasoning",
    "text",
    "temperature",
    "top_p",
    "stream",
    "parallel_tool_calls",
    "user",
];

/// Fields that are accepted and ignored (reported).
const RESPONSES_IGNORED: [&str; 9] = [
    "store",
    "metadata",
    "truncation",
    "include",
    "service_tier",
    "prompt_cache_key",
    "safety_identifier",
    "top_logprobs",
    "background",
];

fn content_part(part: &Value, param: &str) -> Result<Value, RequestError> {
    Ok(match part["type"].as_str() {
        Some("input_text") | Some("output_text") | Some("text") => {
            json!({"type": "text", "text": part["text"]})
        }
        Some("refusal") => json!({"type": "text", "text": part["refusal"]}),
        Some("input_image") => match part["image_url"].as_str() {
            Some(url) => json!({"type": "image_url", "image_url": {"url": url}}),
            None => {
                return Err(RequestError::new(
                    format!("{param}.image_url"),
                    "only image_url images are supported (file_id is not)",
                ))
            }
        },
        Some("input_file") => {
            json!({"type": "file", "file": {"file_data": part["file_data"], "filename": part["filename"]}})
        }
        Some(other) => {
            return Err(RequestError::new(
                format!("{param}.type"),
                format!("content type `{other}` is not supported"),
            ))
        }
        None => return Err(RequestError::new(format!("{param}.type"), "is required")),
    })
}

/// Rewrites `input` (and `instructions`) as Chat Completions messages; `origins[i]` names the
/// Responses field message `i` came from.
fn messages(req: &Value) -> Result<(Vec<Value>, Vec<String>), RequestError> {
    let mut out: Vec<Value> = Vec::new();
    let mut origins = Vec::new();
    if let Some(instructions) = req["instructions"].as_str() {
        out.push(json!({"role": "system", "content": instructions}));
        origins.push("instructions".to_string());
    }
    match &req["input"] {
        Value::String(text) => {
            out.push(json!({"role": "user", "content": text}));
            origins.push("input".into());
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                let p = format!("input[{i}]");
                match item["type"].as_str().unwrap_or("message") {
                    "message" => {
                        let role = item["role"]
                            .as_str()
                            .ok_or_else(|| RequestError::new(format!("{p}.role"), "is required"))?;
                        let content = match &item["content"] {
                            Value::String(s) => Value::String(s.clone()),
                            Value::Array(parts) => Value::Array(
                                parts
                                    .iter()
                                    .enumerate()
                                    .map(|(k, part)| {
                                        content_part(part, &format!("{p}.content[{k}]"))
                                    })
                                    .collect::<Result<_, _>>()?,
                            ),
                            _ => {
                                return Err(RequestError::new(
                                    format!("{p}.content"),
                                    "must be a string or an array",
                                ))
                            }
                        };
                        out.push(json!({"role": role, "content": content}));
                        origins.push(p);
                    }
                    "function_call" => {
                        let call = json!({
                            "id": item["call_id"],
                            "type": "function",
                            "function": {"name": item["name"], "arguments": item["arguments"]},
                        });
                        // Consecutive calls belong to one assistant turn.
                        let joins = out.last().is_some_and(|m| {
                            m["role"] == "assistant" && m.get("tool_calls").is_some()
                        });
                        if joins {
                            if let Some(Value::Array(calls)) =
                                out.last_mut().map(|m| &mut m["tool_calls"])
                            {
                                calls.push(call);
                            }
                        } else {
                            out.push(
                                json!({"role": "assistant", "content": null, "tool_calls": [call]}),
                            );
                            origins.push(p);
                        }
                    }
                    "function_call_output" => {
                        let output = match &item["output"] {
                            Value::String(s) => Value::String(s.clone()),
                            Value::Array(parts) => Value::Array(
                                parts
                                    .iter()
                                    .enumerate()
                                    .map(|(k, part)| {
                                        content_part(part, &format!("{p}.output[{k}]"))
                                    })
                                    .collect::<Result<_, _>>()?,
                            ),
                            other => Value::String(other.to_string()),
                        };
                        out.push(json!({"role": "tool", "tool_call_id": item["call_id"], "content": output}));
                        origins.push(p);
                    }
                    // Reasoning items of earlier turns carry no signature Claude could verify.
                    "reasoning" => {}
                    other => {
                        return Err(RequestError::new(
                            format!("{p}.type"),
                            format!("input item type `{other}` is not supported"),
                        ))
                    }
                }
            }
        }
        Value::Null => return Err(RequestError::new("input", "is required")),
        _ => {
            return Err(RequestError::new(
                "input",
                "must be a string or an array of items",
            ))
        }
    }
    Ok((out, origins))
}

/// Renames a Chat Completions field path back to the Responses field it came from.
fn rename(mut e: RequestError, origins: &[String]) -> RequestError {
    if let Some(rest) = e.param.strip_prefix("messages[") {
        if let Some((index, tail)) = rest.split_once(']') {
            if let Some(origin) = index.parse::<usize>().ok().and_then(|i| origins.get(i)) {
                let tail = tail
                    .replace(".tool_call_id", ".call_id")
                    .replace(".tool_calls[0].function.arguments", ".arguments");
                e.param = format!("{origin}{tail}");
            }
        }
    } else if e.param == "max_completion_tokens" {
        e.param = "max_output_tokens".into();
    } else if e.param == "reasoning_effort" {
        e.param = "reasoning.effort".into();
    } else if let Some(rest) = e.param.strip_prefix("response_format") {
        e.param = format!("text.format{rest}");
    }
    e
}

/// Translates a Responses request into an Anthropic request.
pub fn translate(req: &Value, opts: &Options<'_>) -> Result<Translated, RequestError> {
    let object = req
        .as_object()
        .ok_or_else(|| RequestError::new("", "the request body must be a JSON object"))?;
    if req
        .get("previous_response_id")
        .is_some_and(|v| !v.is_null())
    {
        return Err(RequestError::new(
            "previous_response_id",
            "responses are not stored; send the whole conversation in `input`",
        ));
    }
    let (msgs, origins) = messages(req)?;
    let mut chat = Map::new();
    chat.insert("messages".into(), Value::Array(msgs));
    for key in [
        "model",
        "temperature",
        "top_p",
        "stream",
        "parallel_tool_calls",
        "user",
    ] {
        if let Some(v) = req.get(key) {
            chat.insert(key.into(), v.clone());
        }
    }
    if let Some(v) = req.get("max_output_tokens") {
        chat.insert("max_completion_tokens".into(), v.clone());
    }
    if let Some(effort) = req["reasoning"].get("effort") {
        chat.insert("reasoning_effort".into(), effort.clone());
    }
    if let Some(tools) = req["tools"].as_array() {
        let tools: Vec<Value> = tools
            .iter()
            .map(|t| match t["type"].as_str() {
                Some("function") => json!({"type": "function", "function": {
                    "name": t["name"], "description": t["description"], "parameters": t["parameters"]}}),
                _ => t.clone(),
            })
            .collect();
        chat.insert("tools".into(), Value::Array(tools));
    }
    match &req["tool_choice"] {
        Value::Null => {}
        Value::Object(c) if c.get("type").and_then(Value::as_str) == Some("function") => {
            chat.insert(
                "tool_choice".into(),
                json!({"type": "function", "function": {"name": c.get("name")}}),
            );
        }
        other => {
            chat.insert("tool_choice".into(), other.clone());
        }
    }
    if let Some(format) = req["text"].get("format").filter(|f| !f.is_null()) {
        let rf = match format["type"].as_str() {
            Some("json_schema") => json!({"type": "json_schema", "json_schema": {
                "name": format["name"], "schema": format["schema"], "strict": format["strict"]}}),
            _ => format.clone(),
        };
        chat.insert("response_format".into(), rf);
    }
    let mut translated =
        chat_request::translate(&Value::Object(chat), opts).map_err(|e| rename(e, &origins))?;
    for (key, value) in object {
        let known = RESPONSES_FIELDS.contains(&key.as_str()) || key == "previous_response_id";
        if value.is_null() || known {
            continue;
        }
        let quiet = RESPONSES_IGNORED.contains(&key.as_str())
            && (value == &Value::Bool(false)
                || value.as_object().is_some_and(Map::is_empty)
                || value.as_array().is_some_and(Vec::is_empty));
        if !quiet {
            translated.ignored.push(key.clone());
        }
    }
    translated.ignored.sort();
    // Responses streams have no usage opt-in: usage is part of `response.completed`.
    translated.include_usage = false;
    Ok(translated)
}

/// The request settings echoed in a response object.
#[derive(Debug, Clone, Default)]
pub struct Echo {
    pub instructions: Value,
    pub tools: Value,
    pub tool_choice: Value,
    pub max_output_tokens: Value,
    pub temperature: Value,
    pub top_p: Value,
}

impl Echo {
    /// The settings of `req` (a Responses request).
    pub fn of(req: &Value) -> Self {
        let or = |k: &str, d: Value| req.get(k).filter(|v| !v.is_null()).cloned().unwrap_or(d);
        Self {
            instructions: or("instructions", Value::Null),
            tools: or("tools", json!([])),
            tool_choice: or("tool_choice", json!("auto")),
            max_output_tokens: or("max_output_tokens", Value::Null),
            temperature: or("temperature", json!(1.0)),
            top_p: or("top_p", json!(1.0)),
        }
    }
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
        "output_tokens_details": {"reasoning_tokens": 0},
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
    json!({
        "id": ctx.id,
        "object": "response",
        "created_at": ctx.created,
        "status": if incomplete.is_some() && status == "completed" { "incomplete" } else { status },
        "error": null,
        "incomplete_details": incomplete,
        "instructions": echo.instructions,
        "max_output_tokens": echo.max_output_tokens,
        "model": ctx.model,
        "output": output,
        "parallel_tool_calls": true,
        "previous_response_id": null,
        "reasoning": {"effort": null, "summary": null},
        "store": false,
        "temperature": echo.temperature,
        "text": {"format": {"type": "text"}},
        "tool_choice": echo.tool_choice,
        "tools": echo.tools,
        "top_p": echo.top_p,
        "truncation": "disabled",
        "usage": usage,
        "user": null,
        "metadata": {},
    })
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

fn reasoning_item(id: String, text: &str) -> Value {
    json!({"type": "reasoning", "id": id, "summary": [{"type": "summary_text", "text": text}]})
}

fn call_item(id: String, call_id: &Value, name: &Value, arguments: &str, status: &str) -> Value {
    json!({"type": "function_call", "id": id, "call_id": call_id, "name": name, "arguments": arguments, "status": status})
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
            Some("thinking") => output.push(reasoning_item(
                item_id(ctx, "rs", i),
                block["thinking"].as_str().unwrap_or_default(),
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

#[derive(Debug, Clone)]
enum Item {
    Message {
        output: usize,
        text: String,
    },
    Reasoning {
        output: usize,
        text: String,
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
        }
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
                super::merge_usage(&mut self.usage, &data["message"]["usage"]);
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
                    Some("thinking") => Item::Reasoning {
                        output: o,
                        text: String::new(),
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
                    Some(Item::Reasoning { output, text }) => {
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
                    Some(Item::Reasoning { output, text }) => {
                        let id = item_id(&ctx, "rs", output);
                        let done = reasoning_item(id.clone(), &text);
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
                        let done = call_item(id.clone(), &call_id, &name, &arguments, "completed");
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
                super::merge_usage(&mut self.usage, &data["usage"]);
            }
            "message_stop" => {
                self.done = true;
                let response = self.snapshot("completed");
                let name = if response["status"] == "incomplete" {
                    "response.incomplete"
                } else {
                    "response.completed"
                };
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

    fn fail(&mut self, code: &str, message: &str) -> Vec<(String, Value)> {
        self.done = true;
        let mut failed = self.snapshot("failed");
        failed["error"] = json!({"code": code, "message": message});
        vec![
            self.event(
                "error",
                json!({"code": code, "message": message, "param": null}),
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
