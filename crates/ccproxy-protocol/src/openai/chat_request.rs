//! OpenAI Chat Completions request → Anthropic Messages request.
//!
//! The request is read as JSON so that every problem can name its field
//! (`messages[3].tool_calls[0].function.arguments`). See [`translate`] for the field policy.

use super::RequestError;
use serde_json::{json, Map, Value};

/// Translation settings from the server's configuration.
#[derive(Debug, Clone)]
pub struct Options<'a> {
    /// `max_tokens` when the client gives none.
    pub default_max_tokens: u64,
    /// Model aliases (case-insensitive name → Claude model id).
    pub aliases: &'a [(String, String)],
}

/// The Anthropic request, and what the response side needs to know.
#[derive(Debug, Clone, PartialEq)]
pub struct Translated {
    /// The Anthropic Messages request body.
    pub body: Value,
    pub stream: bool,
    pub include_usage: bool,
    /// The model name as the client sent it.
    pub requested_model: String,
    /// Request fields that were ignored, for the `x-ccproxy-ignored-params` header.
    pub ignored: Vec<String>,
    /// The tool forced to carry `response_format: json_schema` output.
    pub structured_tool: Option<String>,
    /// Responses `namespace` tools, flattened (empty for Chat Completions).
    pub namespaced: Vec<crate::openai::NamespacedTool>,
}

/// Fields that are translated.
const TRANSLATED: [&str; 18] = [
    "model",
    "messages",
    "max_tokens",
    "max_completion_tokens",
    "stop",
    "temperature",
    "top_p",
    "user",
    "stream",
    "stream_options",
    "tools",
    "tool_choice",
    "parallel_tool_calls",
    "reasoning_effort",
    "response_format",
    "functions",
    "function_call",
    "n",
];

/// Fields refused when set to something Anthropic cannot do.
const REFUSED: [&str; 4] = ["logprobs", "top_logprobs", "audio", "modalities"];

/// Thinking budget for each `reasoning_effort`.
fn thinking_budget(effort: &str) -> Option<u64> {
    Some(match effort {
        "minimal" => 1024,
        "low" => 2048,
        "medium" => 8192,
        "high" => 24576,
        _ => return None,
    })
}

/// Whether a model name is an OpenAI reasoning model (`o1`, `o3-mini`, `o4-mini` …).
fn is_o_series(model: &str) -> bool {
    let m = model.to_ascii_lowercase();
    let mut chars = m.chars();
    chars.next() == Some('o') && chars.next().is_some_and(|c| c.is_ascii_digit())
}

fn is_set(v: Option<&Value>) -> Option<&Value> {
    v.filter(|v| !v.is_null())
}

fn as_str<'a>(v: &'a Value, param: &str) -> Result<&'a str, RequestError> {
    v.as_str()
        .ok_or_else(|| RequestError::new(param, "must be a string"))
}

/// Text of a `content` that must be text: a string, or an array of `{"type":"text"}` parts.
fn text_parts(content: &Value, param: &str) -> Result<Vec<String>, RequestError> {
    match content {
        Value::Null => Ok(Vec::new()),
        Value::String(s) => Ok(vec![s.clone()]),
        Value::Array(parts) => parts
            .iter()
            .enumerate()
            .map(|(i, part)| {
                let p = format!("{param}[{i}]");
                match part["type"].as_str() {
                    Some("text") => Ok(as_str(&part["text"], &format!("{p}.text"))?.to_string()),
                    Some("refusal") => {
                        Ok(as_str(&part["refusal"], &format!("{p}.refusal"))?.to_string())
                    }
                    Some(other) => Err(RequestError::new(
                        format!("{p}.type"),
                        format!("content part type `{other}` is not allowed here; only text"),
                    )),
                    None => Err(RequestError::new(format!("{p}.type"), "is required")),
                }
            })
            .collect(),
        _ => Err(RequestError::new(
            param,
            "must be a string or an array of content parts",
        )),
    }
}

/// `data:<media type>;base64,<data>` → (media type, data).
fn data_url(url: &str) -> Option<(&str, &str)> {
    let rest = url.strip_prefix("data:")?;
    let (meta, data) = rest.split_once(',')?;
    let media = meta.strip_suffix(";base64")?;
    Some((media, data))
}

fn image_block(part: &Value, param: &str) -> Result<Value, RequestError> {
    let url = match &part["image_url"] {
        Value::String(s) => s.as_str(),
        v => as_str(&v["url"], &format!("{param}.image_url.url"))?,
    };
    if let Some((media_type, data)) = data_url(url) {
        return Ok(
            json!({"type": "image", "source": {"type": "base64", "media_type": media_type, "data": data}}),
        );
    }
    if url.starts_with("https://") || url.starts_with("http://") {
        return Ok(json!({"type": "image", "source": {"type": "url", "url": url}}));
    }
    Err(RequestError::new(
        format!("{param}.image_url.url"),
        "must be an https:// URL or a base64 data: URL",
    ))
}

fn file_block(part: &Value, param: &str) -> Result<Value, RequestError> {
    let file = &part["file"];
    if let Some(data) = file["file_data"].as_str() {
        if let Some((media_type, data)) = data_url(data) {
            return Ok(
                json!({"type": "document", "source": {"type": "base64", "media_type": media_type, "data": data}}),
            );
        }
    }
    Err(RequestError::new(
        format!("{param}.file"),
        "only inline files (file_data as a base64 data: URL) are supported; file_id is not",
    ))
}

fn user_content(content: &Value, param: &str) -> Result<Value, RequestError> {
    match content {
        Value::String(_) => Ok(content.clone()),
        Value::Array(parts) => {
            let mut blocks = Vec::with_capacity(parts.len());
            for (i, part) in parts.iter().enumerate() {
                let p = format!("{param}[{i}]");
                blocks.push(match part["type"].as_str() {
                    Some("text") => json!({"type": "text", "text": as_str(&part["text"], &format!("{p}.text"))?}),
                    Some("image_url") => image_block(part, &p)?,
                    Some("file") => file_block(part, &p)?,
                    Some(other) => {
                        return Err(RequestError::new(
                            format!("{p}.type"),
                            format!("content part type `{other}` is not supported"),
                        ))
                    }
                    None => return Err(RequestError::new(format!("{p}.type"), "is required")),
                });
            }
            Ok(Value::Array(blocks))
        }
        _ => Err(RequestError::new(
            param,
            "must be a string or an array of content parts",
        )),
    }
}

fn tool_use_blocks(
    calls: &Value,
    param: &str,
    known_ids: &mut Vec<String>,
) -> Result<Vec<Value>, RequestError> {
    let calls = calls
        .as_array()
        .ok_or_else(|| RequestError::new(param, "must be an array"))?;
    let mut blocks = Vec::with_capacity(calls.len());
    for (j, call) in calls.iter().enumerate() {
        let p = format!("{param}[{j}]");
        let id = as_str(&call["id"], &format!("{p}.id"))?;
        let name = as_str(&call["function"]["name"], &format!("{p}.function.name"))?;
        let arguments = match &call["function"]["arguments"] {
            Value::Null => "{}",
            v => as_str(v, &format!("{p}.function.arguments"))?,
        };
        let input: Value = if arguments.trim().is_empty() {
            json!({})
        } else {
            serde_json::from_str(arguments).map_err(|e| {
                RequestError::new(
                    format!("{p}.function.arguments"),
                    format!("is not valid JSON: {e}"),
                )
            })?
        };
        if !input.is_object() {
            return Err(RequestError::new(
                format!("{p}.function.arguments"),
                "must be a JSON object",
            ));
        }
        known_ids.push(id.to_string());
        blocks.push(json!({"type": "tool_use", "id": id, "name": name, "input": input}));
    }
    Ok(blocks)
}

/// Appends a block to the last user turn if it holds tool results, else to a new user turn.
fn push_tool_result(messages: &mut Vec<Value>, block: Value, open: &mut bool) {
    if *open {
        if let Some(Value::Array(content)) = messages.last_mut().map(|m| &mut m["content"]) {
            content.push(block);
            return;
        }
    }
    messages.push(json!({"role": "user", "content": [block]}));
    *open = true;
}

fn messages(req: &Value) -> Result<(Vec<Value>, Vec<Value>), RequestError> {
    let list = req["messages"]
        .as_array()
        .ok_or_else(|| RequestError::new("messages", "is required and must be an array"))?;
    if list.is_empty() {
        return Err(RequestError::new("messages", "must not be empty"));
    }
    let mut system = Vec::new();
    let mut out: Vec<Value> = Vec::with_capacity(list.len());
    let mut known_ids: Vec<String> = Vec::new();
    // Whether the last turn is a user turn made of tool results (more may join it).
    let mut results_open = false;
    for (i, m) in list.iter().enumerate() {
        let p = format!("messages[{i}]");
        let role = m["role"]
            .as_str()
            .ok_or_else(|| RequestError::new(format!("{p}.role"), "is required"))?;
        match role {
            "system" | "developer" => {
                for text in text_parts(&m["content"], &format!("{p}.content"))? {
                    system.push(json!({"type": "text", "text": text}));
                }
            }
            "user" => {
                let content = user_content(&m["content"], &format!("{p}.content"))?;
                out.push(json!({"role": "user", "content": content}));
                results_open = false;
            }
            "assistant" => {
                // Thinking blocks the client kept (`thinking_blocks`, see `openai::reasoning`)
                // come first, as upstream requires.
                let mut blocks: Vec<Value> = m["thinking_blocks"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(crate::openai::reasoning::valid_block)
                    .collect();
                blocks.extend(
                    text_parts(&m["content"], &format!("{p}.content"))?
                        .into_iter()
                        .filter(|t| !t.is_empty())
                        .map(|t| json!({"type": "text", "text": t})),
                );
                if let Some(calls) = is_set(m.get("tool_calls")) {
                    blocks.extend(tool_use_blocks(
                        calls,
                        &format!("{p}.tool_calls"),
                        &mut known_ids,
                    )?);
                }
                if let Some(call) = is_set(m.get("function_call")) {
                    let legacy = json!([{"id": format!("call_legacy_{i}"), "function": call}]);
                    blocks.extend(tool_use_blocks(
                        &legacy,
                        &format!("{p}.function_call"),
                        &mut known_ids,
                    )?);
                }
                if !blocks.is_empty() {
                    out.push(json!({"role": "assistant", "content": blocks}));
                }
                results_open = false;
            }
            "tool" => {
                let id = as_str(&m["tool_call_id"], &format!("{p}.tool_call_id"))?;
                if !known_ids.iter().any(|k| k == id) {
                    return Err(RequestError::new(
                        format!("{p}.tool_call_id"),
                        format!(
                            "`{id}` does not match a tool call of an earlier assistant message"
                        ),
                    ));
                }
                let texts = text_parts(&m["content"], &format!("{p}.content"))?;
                let content = match texts.as_slice() {
                    [one] => Value::String(one.clone()),
                    many => Value::Array(
                        many.iter()
                            .map(|t| json!({"type": "text", "text": t}))
                            .collect(),
                    ),
                };
                push_tool_result(
                    &mut out,
                    json!({"type": "tool_result", "tool_use_id": id, "content": content}),
                    &mut results_open,
                );
            }
            "function" => {
                return Err(RequestError::new(
                    format!("{p}.role"),
                    "role `function` is not supported; use `tool` messages",
                ))
            }
            other => {
                return Err(RequestError::new(
                    format!("{p}.role"),
                    format!(
                    "unknown role `{other}`; expected system, developer, user, assistant or tool"
                ),
                ))
            }
        }
    }
    Ok((system, out))
}

/// The client's function tools as Anthropic tools. A tool of another type (a hosted tool such
/// as `web_search`, which only OpenAI can run) never fails the request: it is left out and named
/// in `dropped`.
fn tools(req: &Value, dropped: &mut Vec<String>) -> Result<Option<Vec<Value>>, RequestError> {
    let (list, param) = match (is_set(req.get("tools")), is_set(req.get("functions"))) {
        (Some(t), _) => (t, "tools"),
        (None, Some(f)) => (f, "functions"),
        (None, None) => return Ok(None),
    };
    let list = list
        .as_array()
        .ok_or_else(|| RequestError::new(param, "must be an array"))?;
    let mut out = Vec::with_capacity(list.len());
    for (i, tool) in list.iter().enumerate() {
        let p = format!("{param}[{i}]");
        let function = if param == "functions" {
            tool
        } else {
            match tool["type"].as_str() {
                Some("function") => &tool["function"],
                Some(other) => {
                    dropped.push(format!(
                        "{p} (a `{other}` tool: only function tools reach Claude)"
                    ));
                    continue;
                }
                None => return Err(RequestError::new(format!("{p}.type"), "is required")),
            }
        };
        let name = as_str(&function["name"], &format!("{p}.function.name"))?;
        let mut t = Map::new();
        t.insert("name".into(), name.into());
        if let Some(d) = function["description"].as_str() {
            t.insert("description".into(), d.into());
        }
        let schema = match &function["parameters"] {
            Value::Null => json!({"type": "object", "properties": {}}),
            Value::Object(_) => function["parameters"].clone(),
            _ => {
                return Err(RequestError::new(
                    format!("{p}.function.parameters"),
                    "must be a JSON Schema object",
                ))
            }
        };
        t.insert("input_schema".into(), schema);
        out.push(Value::Object(t));
    }
    Ok(Some(out))
}

fn tool_choice(req: &Value) -> Result<Option<Value>, RequestError> {
    let (choice, param) = match (
        is_set(req.get("tool_choice")),
        is_set(req.get("function_call")),
    ) {
        (Some(c), _) => (c, "tool_choice"),
        (None, Some(c)) => (c, "function_call"),
        (None, None) => return Ok(None),
    };
    Ok(Some(match choice {
        Value::String(s) => match s.as_str() {
            "none" => json!({"type": "none"}),
            "auto" => json!({"type": "auto"}),
            "required" => json!({"type": "any"}),
            other => {
                return Err(RequestError::new(
                    param,
                    format!("`{other}` is not one of none, auto, required"),
                ))
            }
        },
        Value::Object(_) => {
            let name = choice["function"]["name"]
                .as_str()
                .or_else(|| choice["name"].as_str())
                .ok_or_else(|| {
                    RequestError::new(format!("{param}.function.name"), "is required")
                })?;
            json!({"type": "tool", "name": name})
        }
        _ => return Err(RequestError::new(param, "must be a string or an object")),
    }))
}

fn number(req: &Value, key: &str) -> Result<Option<f64>, RequestError> {
    match is_set(req.get(key)) {
        None => Ok(None),
        Some(v) => v
            .as_f64()
            .map(Some)
            .ok_or_else(|| RequestError::new(key, "must be a number")),
    }
}

fn integer(req: &Value, key: &str) -> Result<Option<u64>, RequestError> {
    match is_set(req.get(key)) {
        None => Ok(None),
        Some(v) => v
            .as_u64()
            .filter(|n| *n > 0)
            .map(Some)
            .ok_or_else(|| RequestError::new(key, "must be a positive integer")),
    }
}

/// Translates a Chat Completions request.
///
/// Field policy (the README has the full table): translated fields are listed in
/// `TRANSLATED`; `n > 1`, `logprobs: true`, `top_logprobs`, `audio` and audio `modalities` are
/// refused with 400; every other field is ignored and reported in [`Translated::ignored`].
pub fn translate(req: &Value, opts: &Options<'_>) -> Result<Translated, RequestError> {
    let object = req
        .as_object()
        .ok_or_else(|| RequestError::new("", "the request body must be a JSON object"))?;
    let requested_model = as_str(
        is_set(req.get("model")).ok_or_else(|| RequestError::new("model", "is required"))?,
        "model",
    )?
    .to_string();
    let model = opts
        .aliases
        .iter()
        .find(|(alias, _)| alias.eq_ignore_ascii_case(&requested_model))
        .map(|(_, target)| target.clone())
        .unwrap_or_else(|| requested_model.clone());

    // Refusals first: a request that cannot be honoured is not half-translated.
    if integer(req, "n")?.is_some_and(|n| n > 1) {
        return Err(RequestError::new(
            "n",
            "only n = 1 is supported: Claude returns one choice",
        ));
    }
    if req["logprobs"] == true {
        return Err(RequestError::new(
            "logprobs",
            "log probabilities are not available from Claude",
        ));
    }
    if is_set(req.get("top_logprobs")).is_some_and(|v| v.as_u64() != Some(0)) {
        return Err(RequestError::new(
            "top_logprobs",
            "log probabilities are not available from Claude",
        ));
    }
    if is_set(req.get("audio")).is_some() {
        return Err(RequestError::new(
            "audio",
            "audio output is not available from Claude",
        ));
    }
    if let Some(modalities) = is_set(req.get("modalities")) {
        if modalities
            .as_array()
            .is_some_and(|m| m.iter().any(|x| x != "text"))
        {
            return Err(RequestError::new(
                "modalities",
                "only text output is available from Claude",
            ));
        }
    }

    let mut ignored: Vec<String> = object
        .iter()
        .filter(|(k, v)| {
            !TRANSLATED.contains(&k.as_str()) && !REFUSED.contains(&k.as_str()) && !v.is_null()
        })
        .filter(|(k, v)| match k.as_str() {
            // Defaults that change nothing are not worth reporting.
            "frequency_penalty" | "presence_penalty" => v.as_f64() != Some(0.0),
            "logit_bias" | "metadata" => v.as_object().is_some_and(|m| !m.is_empty()),
            _ => true,
        })
        .map(|(k, _)| k.clone())
        .collect();

    let (mut system, messages) = messages(req)?;
    let mut body = Map::new();
    body.insert("model".into(), model.into());

    let stream = match is_set(req.get("stream")) {
        None => false,
        Some(v) => v
            .as_bool()
            .ok_or_else(|| RequestError::new("stream", "must be a boolean"))?,
    };
    let include_usage = stream && req["stream_options"]["include_usage"] == true;

    let mut max_tokens = match integer(req, "max_completion_tokens")? {
        Some(n) => n,
        None => integer(req, "max_tokens")?.unwrap_or(opts.default_max_tokens),
    };
    let mut temperature = number(req, "temperature")?;
    let mut top_p = number(req, "top_p")?;
    if temperature.is_some_and(|t| !(0.0..=2.0).contains(&t)) {
        return Err(RequestError::new("temperature", "must be between 0 and 2"));
    }
    if temperature.is_some_and(|t| t > 1.0) {
        // Anthropic's range is 0–1: the top of OpenAI's range maps to Claude's most random.
        temperature = Some(1.0);
        ignored.push("temperature>1 (clamped to 1)".into());
    }

    let mut tools = tools(req, &mut ignored)?.filter(|t| !t.is_empty());
    let mut choice = tool_choice(req)?;
    if tools.is_none() && choice.is_some() && req.get("tools").is_some_and(|t| !t.is_null()) {
        // Every tool was left out: a choice among them means nothing upstream.
        choice = None;
        ignored.push("tool_choice (no function tools left)".into());
    }
    if req["parallel_tool_calls"] == false {
        let c = choice.get_or_insert_with(|| json!({"type": "auto"}));
        if c["type"] != "none" {
            c["disable_parallel_tool_use"] = true.into();
        }
    }

    // Reasoning: `reasoning_effort`, or an o-series model name, turns on extended thinking.
    let effort = match is_set(req.get("reasoning_effort")) {
        Some(v) => Some(as_str(v, "reasoning_effort")?.to_string()),
        None if is_o_series(&requested_model) => Some("medium".into()),
        None => None,
    };
    let forced_tool = choice
        .as_ref()
        .is_some_and(|c| c["type"] == "any" || c["type"] == "tool");
    let mut thinking = None;
    if let Some(effort) = effort.as_deref().filter(|e| *e != "none") {
        let budget = thinking_budget(effort).ok_or_else(|| {
            RequestError::new(
                "reasoning_effort",
                "must be one of minimal, low, medium, high",
            )
        })?;
        if forced_tool {
            ignored.push("reasoning_effort (Claude cannot think while a tool is forced)".into());
        } else if crate::openai::reasoning::open_tool_loop_lacks_thinking(&messages) {
            ignored.push(
                "reasoning_effort (the tool calls being answered carry no thinking block, which \
                 upstream requires with thinking on: send back the reasoning item's \
                 encrypted_content, or the message's thinking_blocks)"
                    .into(),
            );
        } else {
            // Thinking needs max_tokens above the budget, and no sampling overrides.
            if max_tokens <= budget {
                max_tokens += budget;
            }
            if temperature.take().is_some() {
                ignored.push("temperature (not allowed with reasoning)".into());
            }
            if top_p.take().is_some() {
                ignored.push("top_p (not allowed with reasoning)".into());
            }
            thinking = Some(json!({"type": "enabled", "budget_tokens": budget}));
        }
    }

    // Structured output.
    let mut structured_tool = None;
    if let Some(format) = is_set(req.get("response_format")) {
        match format["type"].as_str() {
            Some("text") => {}
            Some("json_object") => system.push(json!({"type": "text",
                "text": "Respond with a single valid JSON object and nothing else: no prose, no code fences."})),
            Some("json_schema") => {
                let schema = &format["json_schema"]["schema"];
                if !schema.is_object() {
                    return Err(RequestError::new("response_format.json_schema.schema", "is required and must be an object"));
                }
                // A forced tool whose input schema is the requested schema makes Claude emit
                // exactly that JSON; it needs an object schema, no other tools and no thinking.
                if schema["type"] == "object" && tools.is_none() && choice.is_none() && thinking.is_none() {
                    let name = "structured_output".to_string();
                    tools = Some(vec![json!({
                        "name": name,
                        "description": "Give the final answer as this JSON value.",
                        "input_schema": schema,
                    })]);
                    choice = Some(json!({"type": "tool", "name": name}));
                    structured_tool = Some(name);
                } else {
                    system.push(json!({"type": "text", "text": format!(
                        "Respond with a single JSON value matching this JSON Schema and nothing else: {schema}"
                    )}));
                }
            }
            _ => return Err(RequestError::new("response_format.type", "must be text, json_object or json_schema")),
        }
    }

    body.insert("max_tokens".into(), max_tokens.into());
    if !system.is_empty() {
        body.insert("system".into(), Value::Array(system));
    }
    body.insert("messages".into(), Value::Array(messages));
    if let Some(stop) = is_set(req.get("stop")) {
        let list = match stop {
            Value::String(s) => vec![Value::String(s.clone())],
            Value::Array(a) if a.iter().all(Value::is_string) => a.clone(),
            _ => {
                return Err(RequestError::new(
                    "stop",
                    "must be a string or an array of strings",
                ))
            }
        };
        body.insert("stop_sequences".into(), Value::Array(list));
    }
    if let Some(t) = temperature {
        body.insert("temperature".into(), t.into());
    }
    if let Some(p) = top_p {
        body.insert("top_p".into(), p.into());
    }
    if let Some(user) = is_set(req.get("user")) {
        body.insert("metadata".into(), json!({"user_id": as_str(user, "user")?}));
    }
    if let Some(tools) = tools {
        body.insert("tools".into(), Value::Array(tools));
    }
    if let Some(choice) = choice {
        body.insert("tool_choice".into(), choice);
    }
    if let Some(thinking) = thinking {
        body.insert("thinking".into(), thinking);
    }
    if stream {
        body.insert("stream".into(), true.into());
    }
    ignored.sort();
    Ok(Translated {
        body: Value::Object(body),
        stream,
        include_usage,
        requested_model,
        ignored,
        structured_tool,
        namespaced: Vec::new(),
    })
}
