//! The client's own tools in Claude Code mode: a request's `tools` → the tool list of the
//! in-process MCP server the CLI is given ([`ClientTools`]), and the client's `tool_result`
//! blocks → the answers to the CLI's pending `tools/call`s ([`tool_results`]).
//!
//! The CLI learns the tools over its control protocol: with `--mcp-config` naming an `sdk`
//! server, it sends `mcp_message` control requests (`initialize`, `tools/list`, `tools/call`)
//! that the host answers with `{"mcp_response": <JSON-RPC response>}`. The model sees each tool's
//! name (unprefixed with `CLAUDE_AGENT_SDK_MCP_NO_PREFIX=1`), description and input schema as
//! the client wrote them; a `tools/call` carries the upstream `tool_use` id in
//! `params._meta["claudecode/toolUseId"]`, the id the client sees.

use super::RequestError;
use serde_json::{json, Map, Value};
use std::collections::HashSet;

/// The MCP server's name in `--mcp-config`; permission rules name its tools `mcp__client__…`.
pub const SERVER_NAME: &str = "client";

/// The CLI cuts tool descriptions at this many characters.
pub const DESCRIPTION_MAX: usize = 4096;

/// A request's client tools, as the MCP server offers them.
#[derive(Debug, Clone, PartialEq)]
pub struct ClientTools {
    /// The `tools/list` result: `{"tools": [{name, description, inputSchema}, …]}`.
    pub list: Value,
    /// The tools' names.
    pub names: HashSet<String>,
}

impl ClientTools {
    /// A stable text of the tool set, for telling processes with other tools apart.
    pub fn fingerprint(&self) -> String {
        self.list.to_string()
    }
}

/// Reads a request's `tools` (Anthropic's shape): `None` for no tools (absent, `null` or `[]`).
/// Server tools (a versioned `type` such as `web_search_20250305`) are refused: the CLI runs
/// only the tools it is given over MCP.
pub fn parse_tools(tools: Option<&Value>) -> Result<Option<ClientTools>, RequestError> {
    let list = match tools {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Array(list)) if list.is_empty() => return Ok(None),
        Some(Value::Array(list)) => list,
        Some(_) => return Err(RequestError("`tools` must be an array of tools".into())),
    };
    let mut names = HashSet::new();
    let mut offered = Vec::with_capacity(list.len());
    for (i, tool) in list.iter().enumerate() {
        if let Some(kind) = tool["type"].as_str().filter(|t| *t != "custom") {
            return Err(RequestError(format!(
                "`tools.{i}.type`: the server tool `{kind}` is not available in Claude Code mode \
                 (only client tools, which the CLI calls back); use /api for Anthropic's server tools"
            )));
        }
        let name = tool["name"].as_str().unwrap_or_default();
        let valid = (1..=128).contains(&name.len())
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if !valid {
            return Err(RequestError(format!(
                "`tools.{i}.name`: 1 to 128 letters, digits, `_` or `-` (got `{name}`)"
            )));
        }
        if !names.insert(name.to_string()) {
            return Err(RequestError(format!(
                "`tools.{i}.name`: the tool `{name}` is offered twice"
            )));
        }
        let schema = &tool["input_schema"];
        if !schema.is_object() {
            return Err(RequestError(format!(
                "`tools.{i}.input_schema`: Field required (a JSON Schema object)"
            )));
        }
        let mut entry = Map::new();
        entry.insert("name".into(), json!(name));
        if let Some(d) = tool["description"].as_str() {
            entry.insert("description".into(), json!(d));
        }
        entry.insert("inputSchema".into(), schema.clone());
        offered.push(Value::Object(entry));
    }
    Ok(Some(ClientTools {
        list: json!({ "tools": offered }),
        names,
    }))
}

/// The `--mcp-config` value that offers the client's tools as the in-process server.
pub fn mcp_config() -> String {
    json!({"mcpServers": {SERVER_NAME: {"type": "sdk", "name": SERVER_NAME}}}).to_string()
}

/// The results the request's last message carries, by `tool_use` id, each as an MCP
/// `tools/call` result; `None` unless that message is the user's and holds only `tool_result`
/// blocks (a message with anything else cannot be given to a waiting call).
pub fn tool_results(messages: &[Value]) -> Option<Vec<(String, Value)>> {
    let last = messages.last()?;
    if last["role"] != "user" {
        return None;
    }
    let blocks = last["content"].as_array()?;
    let mut out = Vec::with_capacity(blocks.len());
    for b in blocks {
        if b["type"] != "tool_result" {
            return None;
        }
        let id = b["tool_use_id"].as_str()?;
        out.push((id.to_string(), mcp_result(b)));
    }
    (!out.is_empty()).then_some(out)
}

/// The `tool_use` ids of an assistant message, in order.
pub fn tool_use_ids(message: &Value) -> Vec<&str> {
    message["content"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|b| b["type"] == "tool_use")
        .filter_map(|b| b["id"].as_str())
        .collect()
}

/// A `tool_result` block → an MCP `tools/call` result: text as text, base64 images as images,
/// anything else as its JSON text; `is_error` kept as `isError`.
pub fn mcp_result(block: &Value) -> Value {
    let mut content = Vec::new();
    match &block["content"] {
        Value::String(s) => content.push(json!({"type": "text", "text": s})),
        Value::Array(parts) => {
            for p in parts {
                match p["type"].as_str() {
                    Some("text") => content.push(json!({"type": "text", "text": p["text"]})),
                    Some("image") if p["source"]["type"] == "base64" => content.push(json!({
                        "type": "image",
                        "data": p["source"]["data"],
                        "mimeType": p["source"]["media_type"],
                    })),
                    _ => content.push(json!({"type": "text", "text": p.to_string()})),
                }
            }
        }
        Value::Null => {}
        other => content.push(json!({"type": "text", "text": other.to_string()})),
    }
    json!({"content": content, "isError": block["is_error"] == true})
}

/// The JSON-RPC answer to an `mcp_message` the CLI sends the client's server, or `None` for a
/// `tools/call` (answered later, with the client's result).
pub fn mcp_answer(message: &Value, tools: &ClientTools) -> Option<Value> {
    let id = &message["id"];
    let result = match message["method"].as_str().unwrap_or_default() {
        "initialize" => json!({
            "protocolVersion": message["params"]["protocolVersion"],
            "capabilities": {"tools": {}},
            "serverInfo": {"name": SERVER_NAME, "version": "1.0.0"}
        }),
        "tools/list" => tools.list.clone(),
        "tools/call" => return None,
        "ping" => json!({}),
        // Notifications (`notifications/initialized`, `notifications/cancelled`) are
        // acknowledged as the official SDKs do.
        m if m.starts_with("notifications/") => {
            return Some(json!({"jsonrpc": "2.0", "result": {}}))
        }
        m => {
            return Some(json!({"jsonrpc": "2.0", "id": id, "error": {
                "code": -32601, "message": format!("method not found: {m}")
            }}))
        }
    };
    Some(json!({"jsonrpc": "2.0", "id": id, "result": result}))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tools_are_offered_as_written_and_server_tools_refused() {
        let tools = parse_tools(Some(&json!([
            {"name": "get_weather", "description": "Weather.", "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}},
            {"type": "custom", "name": "t2", "input_schema": {"type": "object"}}
        ])))
        .unwrap()
        .unwrap();
        assert_eq!(
            tools.list["tools"][0],
            json!({"name": "get_weather", "description": "Weather.", "inputSchema": {"type": "object", "properties": {"city": {"type": "string"}}}})
        );
        assert!(tools.names.contains("t2"));
        assert_eq!(parse_tools(Some(&json!([]))).unwrap(), None);
        for bad in [
            json!([{"type": "web_search_20250305", "name": "web_search"}]),
            json!([{"name": "a b", "input_schema": {}}]),
            json!([{"name": "x"}]),
            json!([{"name": "x", "input_schema": {}}, {"name": "x", "input_schema": {}}]),
        ] {
            let e = parse_tools(Some(&bad)).unwrap_err();
            assert!(e.0.contains("tools.") || e.0.contains("`tools"), "{}", e.0);
        }
    }

    #[test]
    fn results_become_mcp_results() {
        let messages = [json!({"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "toolu_1", "content": "Sunny"},
            {"type": "tool_result", "tool_use_id": "toolu_2", "is_error": true, "content": [
                {"type": "text", "text": "no data"},
                {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "AAAA"}}
            ]}
        ]})];
        let results = tool_results(&messages).unwrap();
        assert_eq!(results[0].0, "toolu_1");
        assert_eq!(
            results[0].1,
            json!({"content": [{"type": "text", "text": "Sunny"}], "isError": false})
        );
        assert_eq!(
            results[1].1,
            json!({"content": [{"type": "text", "text": "no data"}, {"type": "image", "data": "AAAA", "mimeType": "image/png"}], "isError": true})
        );
        // Anything besides results: not for a waiting call.
        let mixed = [json!({"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "toolu_1", "content": "Sunny"},
            {"type": "text", "text": "also, hi"}
        ]})];
        assert!(tool_results(&mixed).is_none());
        assert!(tool_results(&[json!({"role": "user", "content": "hi"})]).is_none());
    }

    #[test]
    fn the_server_answers_what_the_cli_asks() {
        let tools = parse_tools(Some(
            &json!([{"name": "get_weather", "input_schema": {"type": "object"}}]),
        ))
        .unwrap()
        .unwrap();
        let init = mcp_answer(
            &json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {"protocolVersion": "2025-11-25"}}),
            &tools,
        )
        .unwrap();
        assert_eq!(init["result"]["protocolVersion"], "2025-11-25");
        let list = mcp_answer(
            &json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}),
            &tools,
        )
        .unwrap();
        assert_eq!(list["id"], 1);
        assert_eq!(list["result"]["tools"][0]["name"], "get_weather");
        assert!(mcp_answer(&json!({"id": 2, "method": "tools/call"}), &tools).is_none());
        let unknown = mcp_answer(&json!({"id": 3, "method": "resources/list"}), &tools).unwrap();
        assert_eq!(unknown["error"]["code"], -32601);
        let note = mcp_answer(&json!({"method": "notifications/cancelled"}), &tools).unwrap();
        assert_eq!(note["result"], json!({}));
    }
}
