//! An Anthropic Messages request → what the `claude` CLI is given: server settings refused, the
//! system prompt, the model, and the conversation as one user message (a transcript of the
//! earlier turns, unless a session holds them), with the keys sessions compare histories by.

use serde_json::{json, Value};

/// Request fields that would change what the CLI may do: refused with a 400.
pub const SERVER_SETTINGS: [&str; 25] = [
    "cwd",
    "working_directory",
    "permission_mode",
    "permissionMode",
    "allowed_tools",
    "allowedTools",
    "disallowed_tools",
    "disallowedTools",
    "mcp_servers",
    "mcpServers",
    "mcp_config",
    "max_turns",
    "maxTurns",
    "add_dirs",
    "env",
    "settings",
    "permission_prompt_tool_name",
    "extra_args",
    "resume",
    "continue_conversation",
    "fork_session",
    "cli_path",
    "executable",
    "dangerously_skip_permissions",
    "hooks",
];

/// Request fields the CLI has no per-turn control for: accepted, reported as ignored.
const IGNORED: [&str; 10] = [
    "max_tokens",
    "temperature",
    "top_p",
    "top_k",
    "stop_sequences",
    "metadata",
    "thinking",
    "service_tier",
    "container",
    "context_management",
];

/// The most of a tool's output shown to the client.
pub const TOOL_RESULT_SHOWN: usize = 2000;

/// A refused request: the message names the field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestError(pub String);

/// What the CLI is given for one request.
#[derive(Debug, Clone, PartialEq)]
pub struct CliRequest {
    /// `--system-prompt` (empty when the request has none).
    pub system: String,
    pub model: Option<String>,
    pub stream: bool,
    /// The request's messages (validated: non-empty, alternating roles are not required, the
    /// last one is the user's).
    pub messages: Vec<Value>,
    /// Fields accepted but not applied.
    pub ignored: Vec<String>,
    /// The client's own tools (offered to the CLI over MCP), if the request has any.
    pub tools: Option<super::tools::ClientTools>,
}

/// Reads and checks an Anthropic Messages request for Claude Code mode.
pub fn parse_request(req: &Value) -> Result<CliRequest, RequestError> {
    let obj = req
        .as_object()
        .ok_or_else(|| RequestError("the request body must be a JSON object".into()))?;
    for key in obj.keys() {
        if SERVER_SETTINGS.contains(&key.as_str()) {
            return Err(RequestError(format!(
                "`{key}` is a server setting in Claude Code mode: a request cannot change the \
                 CLI's working directory, tools, permissions, MCP servers or turn limit \
                 (see claude.* in the configuration)"
            )));
        }
    }
    // Required as the API requires it (the CLI sets its own output limit, so it is not used).
    if obj
        .get("max_tokens")
        .and_then(Value::as_u64)
        .is_none_or(|n| n == 0)
    {
        return Err(RequestError(
            "`max_tokens`: Field required (a positive integer)".into(),
        ));
    }
    let messages = obj
        .get("messages")
        .and_then(Value::as_array)
        .ok_or_else(|| RequestError("`messages`: an array of messages is required".into()))?;
    if messages.is_empty() {
        return Err(RequestError(
            "`messages`: at least one message is required".into(),
        ));
    }
    for (i, m) in messages.iter().enumerate() {
        match m["role"].as_str() {
            Some("user" | "assistant") => {}
            _ => {
                return Err(RequestError(format!(
                    "`messages.{i}.role` must be `user` or `assistant`"
                )))
            }
        }
        if !(m["content"].is_string() || m["content"].is_array()) {
            return Err(RequestError(format!(
                "`messages.{i}.content` must be a string or an array of content blocks"
            )));
        }
    }
    if messages.last().map(|m| &m["role"]) != Some(&json!("user")) {
        return Err(RequestError(
            "`messages`: the last message must be the user's; Claude Code mode cannot continue a \
             prefilled assistant message"
                .into(),
        ));
    }
    let system = match obj.get("system") {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(blocks)) => blocks
            .iter()
            .filter_map(|b| b["text"].as_str())
            .collect::<Vec<_>>()
            .join("\n\n"),
        Some(_) => {
            return Err(RequestError(
                "`system` must be a string or an array of text blocks".into(),
            ))
        }
    };
    if system.contains('\0') {
        return Err(RequestError(
            "`system` contains a NUL character, which the claude CLI cannot be given".into(),
        ));
    }
    let model = match obj.get("model") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if !s.trim().is_empty() => Some(s.clone()),
        Some(_) => return Err(RequestError("`model` must be a model name".into())),
    };
    let stream = match obj.get("stream") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(RequestError("`stream` must be a boolean".into())),
    };
    let mut ignored: Vec<String> = obj
        .keys()
        .filter(|k| IGNORED.contains(&k.as_str()))
        .cloned()
        .collect();
    let mut tools = super::tools::parse_tools(obj.get("tools"))?;
    match obj.get("tool_choice") {
        None | Some(Value::Null) => {}
        Some(choice) => {
            match choice["type"].as_str() {
                Some("auto") => {}
                // The model is not offered the tools at all: it cannot call one.
                Some("none") => tools = None,
                Some(kind @ ("any" | "tool")) => {
                    return Err(RequestError(format!(
                        "`tool_choice`: Claude Code mode cannot force a tool call (`{kind}`): the \
                         claude CLI has no control for it. Use `auto`, or API mode (/api)"
                    )))
                }
                _ => {
                    return Err(RequestError(
                        "`tool_choice.type` must be `auto`, `any`, `tool` or `none`".into(),
                    ))
                }
            }
            if choice.get("disable_parallel_tool_use").is_some() {
                ignored.push("tool_choice.disable_parallel_tool_use".into());
            }
        }
    }
    Ok(CliRequest {
        system,
        model,
        stream,
        messages: messages.clone(),
        ignored,
        tools,
    })
}

/// The text of a content value: a string, or the text of its text blocks.
pub(super) fn plain_text(content: &Value) -> String {
    match content {
        Value::String(s) => s.clone(),
        Value::Array(blocks) => blocks
            .iter()
            .filter_map(|b| b["text"].as_str())
            .collect::<Vec<_>>()
            .join(""),
        _ => String::new(),
    }
}

/// A key per message that survives the round trip through a client: user messages by their
/// whole content, assistant messages by their text (clients send back the text they were given,
/// as a string or as blocks). A session whose keys are a prefix of a request's keys already
/// holds those messages.
pub fn history_keys(messages: &[Value]) -> Vec<u64> {
    use std::hash::{Hash, Hasher};
    messages
        .iter()
        .map(|m| {
            let mut h = std::collections::hash_map::DefaultHasher::new();
            let role = m["role"].as_str().unwrap_or("");
            role.hash(&mut h);
            if role == "assistant" {
                plain_text(&m["content"]).trim().hash(&mut h);
            } else {
                m["content"].to_string().hash(&mut h);
            }
            h.finish()
        })
        .collect()
}

/// The key of the assistant message a turn answered with, as the client will send it back.
pub fn assistant_key(text: &str) -> u64 {
    history_keys(&[json!({"role": "assistant", "content": text})])[0]
}

/// Content blocks of a message, for the transcript: text and images kept, tool calls and results
/// written out as text, thinking left out.
fn transcript_blocks(content: &Value, out: &mut Vec<Value>) {
    let text = |out: &mut Vec<Value>, t: String| out.push(json!({"type": "text", "text": t}));
    match content {
        Value::String(s) => text(out, s.clone()),
        Value::Array(blocks) => {
            for b in blocks {
                match b["type"].as_str() {
                    Some("text") => text(out, b["text"].as_str().unwrap_or("").to_string()),
                    Some("image" | "document") => out.push(b.clone()),
                    Some("tool_use") => text(
                        out,
                        format!("⏺ {}({})", b["name"].as_str().unwrap_or("tool"), b["input"]),
                    ),
                    Some("tool_result") => text(out, format!("  ⎿ {}", plain_text(&b["content"]))),
                    _ => {}
                }
            }
        }
        _ => {}
    }
}

/// The user message content that gives the CLI `messages[skip..]`: the last message as it is
/// when it is the only one, else a transcript of the earlier ones followed by the last.
pub fn user_content(messages: &[Value], skip: usize) -> Value {
    let new = &messages[skip.min(messages.len())..];
    let Some((last, earlier)) = new.split_last() else {
        return json!("");
    };
    // Results of tool calls no process is waiting for are written out like the history's.
    let has_results = last["content"]
        .as_array()
        .is_some_and(|b| b.iter().any(|b| b["type"] == "tool_result"));
    if earlier.is_empty() && !has_results {
        return last["content"].clone();
    }
    let mut blocks = vec![json!({"type": "text", "text":
        "The conversation so far, for context (you wrote the assistant turns):\n<conversation>"})];
    for m in earlier {
        let role = m["role"].as_str().unwrap_or("user");
        blocks.push(json!({"type": "text", "text": format!("<{role}>")}));
        transcript_blocks(&m["content"], &mut blocks);
        blocks.push(json!({"type": "text", "text": format!("</{role}>")}));
    }
    blocks.push(json!({"type": "text", "text": "</conversation>\n\nMy new message:"}));
    match &last["content"] {
        Value::Array(_) if has_results => transcript_blocks(&last["content"], &mut blocks),
        Value::Array(b) => blocks.extend(b.iter().cloned()),
        other => blocks.push(json!({"type": "text", "text": other.as_str().unwrap_or("")})),
    }
    Value::Array(blocks)
}

/// The stdin line that sends a user turn.
pub fn user_line(content: &Value) -> String {
    json!({
        "type": "user",
        "session_id": "",
        "message": {"role": "user", "content": content},
        "parent_tool_use_id": null
    })
    .to_string()
}
