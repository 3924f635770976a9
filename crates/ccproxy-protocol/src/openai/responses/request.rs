//! A Responses request → the equivalent Chat Completions request → Anthropic (by
//! `chat_request`, so both surfaces share one field policy); errors are renamed back to the
//! Responses field they came from (e.g. `input[2].call_id`).

use crate::openai::chat_request::{self, Options, Translated};
use crate::openai::{NamespacedTool, RequestError};
use serde_json::{json, Map, Value};

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
const RESPONSES_IGNORED: [&str; 8] = [
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
            // Thinking blocks of `reasoning` items, for the assistant turn that follows them.
            let mut thinking: Vec<Value> = Vec::new();
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
                        let mut message = json!({"role": role, "content": content});
                        if role == "assistant" && !thinking.is_empty() {
                            message["thinking_blocks"] = std::mem::take(&mut thinking).into();
                        }
                        out.push(message);
                        origins.push(p);
                    }
                    "function_call" => {
                        // A call of a namespaced tool goes back under the flat name Claude knows.
                        let name = match (item["namespace"].as_str(), item["name"].as_str()) {
                            (Some(namespace), Some(name)) => {
                                Value::String(NamespacedTool::flat_name(namespace, name))
                            }
                            _ => item["name"].clone(),
                        };
                        let call = json!({
                            "id": item["call_id"],
                            "type": "function",
                            "function": {"name": name, "arguments": item["arguments"]},
                        });
                        // Calls after an assistant message or other calls belong to that
                        // assistant turn (as one turn upstream, its thinking first).
                        let joins = out.last().is_some_and(|m| m["role"] == "assistant");
                        if joins {
                            if let Some(m) = out.last_mut() {
                                match &mut m["tool_calls"] {
                                    Value::Array(calls) => calls.push(call),
                                    slot => *slot = json!([call]),
                                }
                            }
                        } else {
                            let mut message =
                                json!({"role": "assistant", "content": null, "tool_calls": [call]});
                            if !thinking.is_empty() {
                                message["thinking_blocks"] = std::mem::take(&mut thinking).into();
                            }
                            out.push(message);
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
                    // A reasoning item CCProxy gave out carries its thinking block (sealed in
                    // `encrypted_content`); others (summaries only, another provider's) cannot
                    // be verified upstream and are skipped.
                    "reasoning" => thinking.extend(
                        item["encrypted_content"]
                            .as_str()
                            .and_then(crate::openai::reasoning::open),
                    ),
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

/// Responses tools as Chat Completions tools: `function` tools as they are; the function tools
/// of a `namespace` (Codex groups each MCP server's tools so) flattened under a name Claude
/// accepts, remembered in `namespaced`; anything else — hosted tools only OpenAI runs
/// (`web_search`, `file_search`, `code_interpreter`, `computer_use`, `image_generation`,
/// `mcp`, …) and `custom` ones — left out and named in `dropped`, never failing the request.
fn chat_tools(
    tools: &[Value],
    namespaced: &mut Vec<NamespacedTool>,
    dropped: &mut Vec<String>,
) -> Vec<Value> {
    let function = |name: &Value, t: &Value| {
        json!({"type": "function", "function": {
            "name": name, "description": t["description"], "parameters": t["parameters"]}})
    };
    let mut out = Vec::with_capacity(tools.len());
    for (i, t) in tools.iter().enumerate() {
        match t["type"].as_str() {
            Some("function") => out.push(function(&t["name"], t)),
            Some("namespace") => {
                let namespace = t["name"].as_str().unwrap_or_default();
                for (k, inner) in t["tools"].as_array().into_iter().flatten().enumerate() {
                    let Some(name) = inner["name"]
                        .as_str()
                        .filter(|_| inner["type"] == "function")
                    else {
                        dropped.push(format!(
                            "tools[{i}].tools[{k}] (only function tools reach Claude)"
                        ));
                        continue;
                    };
                    let flat = NamespacedTool::flat_name(namespace, name);
                    out.push(function(&Value::String(flat.clone()), inner));
                    namespaced.push(NamespacedTool {
                        flat,
                        namespace: namespace.into(),
                        name: name.into(),
                    });
                }
            }
            Some(other) => dropped.push(format!(
                "tools[{i}] (a `{other}` tool: only function tools reach Claude)"
            )),
            None => out.push(t.clone()),
        }
    }
    out
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
    let mut namespaced = Vec::new();
    let mut dropped = Vec::new();
    if let Some(tools) = req["tools"].as_array() {
        let tools = chat_tools(tools, &mut namespaced, &mut dropped);
        chat.insert("tools".into(), Value::Array(tools));
    }
    match &req["tool_choice"] {
        Value::Null => {}
        Value::Object(c) if c.get("type").and_then(Value::as_str) == Some("function") => {
            let name = match (c.get("namespace").and_then(Value::as_str), c.get("name")) {
                (Some(namespace), Some(Value::String(name))) => {
                    Value::String(NamespacedTool::flat_name(namespace, name))
                }
                (_, name) => name.cloned().unwrap_or(Value::Null),
            };
            chat.insert(
                "tool_choice".into(),
                json!({"type": "function", "function": {"name": name}}),
            );
        }
        // `allowed_tools` narrows the choice to some tools: its mode is the choice.
        Value::Object(c) if c.get("type").and_then(Value::as_str) == Some("allowed_tools") => {
            chat.insert(
                "tool_choice".into(),
                c.get("mode").cloned().unwrap_or("auto".into()),
            );
        }
        // A hosted tool forced: it was left out, so the model chooses.
        Value::Object(c) if c.get("type").is_some_and(Value::is_string) => {
            dropped.push(format!(
                "tool_choice (a `{}` tool: only function tools reach Claude)",
                c["type"].as_str().unwrap_or_default()
            ));
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
    translated.namespaced = namespaced;
    translated.ignored.extend(dropped);
    for (key, value) in object {
        // `previous_response_id` and `store` are the server's (it resolves and keeps responses).
        let known = RESPONSES_FIELDS.contains(&key.as_str())
            || key == "previous_response_id"
            || key == "store";
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
