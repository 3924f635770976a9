//! `fake-claude`: a stand-in for the `claude` CLI in stream-json mode, for CCProxy's tests.
//!
//! It answers `initialize` with a real CLI's answer, then replays real transcripts of the CLI
//! (`transcripts/`, recorded from claude 2.1.331) for each user turn, chosen by a word in the
//! user's message:
//!
//! | word           | turn                                                                    |
//! |----------------|-------------------------------------------------------------------------|
//! | (none)         | `f5` (token stream) with `--include-partial-messages`, else `f1`        |
//! | `FAKE_TOOL`    | `f4`: text, a Bash tool call, its result, the final text (no stream)    |
//! | `FAKE_QUOTA`   | `f3`: a reply (no stream) with a `rate_limit_event` (5h 2 %, 7d 1 %)     |
//! | `FAKE_EXTRA_USAGE` | the same, with the event saying extra usage is in use (5h 100 %)     |
//! | `FAKE_429`     | `f6`: upstream answered 429; the `result` is an error                   |
//! | `FAKE_ERROR`   | an error `result` with no API status (`error_during_execution`)          |
//! | `FAKE_GARBAGE` | non-JSON noise, a 2 MiB line of an unknown type, then `f5`               |
//! | `FAKE_CRASH`   | the start of a stream, then exit code 3                                   |
//! | `FAKE_HANG`    | the start of a stream, then nothing until `interrupt`                     |
//! | `FAKE_ECHO`    | a streamed reply whose text is the user content it received, as JSON     |
//! | `FAKE_CLIENT_TOOL` | with `--mcp-config` naming an `sdk` server (the client's tools): lists |
//! |                | the tools over `mcp_message`, streams a call of the first one, sends its |
//! |                | `tools/call`, waits for the answer, then streams "The tool returned: …"  |
//! |                | (for the answer `FAKE_HANG`: the start of that, then nothing until      |
//! |                | `interrupt`)                                                             |
//! | `FAKE_CLIENT_TOOL_CRASH` | the same up to the `tools/call`, then exit code 3               |
//!
//! `FAKE_CLAUDE_LOG=<file>` appends one JSON line per event (argv, cwd, environment markers,
//! every stdin line) so tests can check what the proxy sent. `FAKE_CLAUDE_INIT_MS` delays the
//! `initialize` answer, like a real start-up. `--version` prints `FAKE_CLAUDE_VERSION` (default
//! `2.1.331 (Claude Code)`).
// Test infrastructure: it reads its scenario from the environment and runs its tasks for
// the life of the process.
#![allow(clippy::disallowed_methods)]

use serde_json::{json, Value};
use std::io::{BufRead, Write};
use std::sync::mpsc;
use std::time::Duration;

const F1: &str = include_str!("../transcripts/f1.stdout.jsonl");
const F3: &str = include_str!("../transcripts/f3.stdout.jsonl");
const F4: &str = include_str!("../transcripts/f4.stdout.jsonl");
const F5: &str = include_str!("../transcripts/f5.stdout.jsonl");
const F6: &str = include_str!("../transcripts/f6.stdout.jsonl");
const INIT: &str = include_str!("../transcripts/initialize.response.json");

struct Fake {
    /// The client's tools (`tools/list` of the `sdk` server), once listed.
    tools: Option<Vec<Value>>,
    sdk_server: bool,
    next_request: u64,
    log: Option<std::fs::File>,
    session: String,
    partial: bool,
    out: std::io::Stdout,
}

impl Fake {
    fn log(&mut self, entry: Value) {
        if let Some(f) = &mut self.log {
            // One write per line: other processes append to the same file.
            let _ = f.write_all(format!("{entry}\n").as_bytes());
        }
    }

    fn emit(&mut self, line: &str) {
        let mut out = self.out.lock();
        let _ = writeln!(out, "{line}");
        let _ = out.flush();
    }

    fn emit_json(&mut self, v: Value) {
        self.emit(&v.to_string());
    }

    /// Replays a transcript with this process's session id.
    fn replay(&mut self, transcript: &str) {
        for line in transcript.lines().filter(|l| !l.trim().is_empty()) {
            let mut v: Value = serde_json::from_str(line).expect("transcript line");
            if v.get("session_id").is_some() {
                v["session_id"] = json!(self.session);
            }
            if v["type"] == "system" && v["subtype"] == "init" {
                v["cwd"] = json!(std::env::current_dir().unwrap_or_default());
            }
            self.emit_json(v);
        }
    }

    fn init_line(&mut self) {
        let line = F1.lines().next().expect("init line");
        let mut v: Value = serde_json::from_str(line).expect("json");
        v["session_id"] = json!(self.session);
        v["cwd"] = json!(std::env::current_dir().unwrap_or_default());
        self.emit_json(v);
    }

    fn event(&mut self, event: Value) {
        let session = self.session.clone();
        self.emit_json(json!({"type": "stream_event", "event": event, "session_id": session, "parent_tool_use_id": null}));
    }

    fn stream_start(&mut self) {
        self.init_line();
        self.event(json!({"type": "message_start", "message": {"id": "msg_fake_1", "type": "message", "role": "assistant", "model": "claude-opus-5-5", "content": [], "stop_reason": null, "stop_sequence": null, "usage": {"input_tokens": 3, "output_tokens": 1}}}));
        self.event(json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}));
        self.event(json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "partial"}}));
    }

    fn result(&mut self, text: &str, is_error: bool, subtype: &str) {
        let session = self.session.clone();
        self.emit_json(json!({
            "type": "result", "subtype": subtype, "is_error": is_error, "result": text,
            "stop_reason": if is_error { Value::Null } else { json!("end_turn") },
            "session_id": session, "total_cost_usd": 0.0125, "num_turns": 1,
            "usage": {"input_tokens": 3, "output_tokens": 5, "cache_read_input_tokens": 0, "cache_creation_input_tokens": 0},
            "api_error_status": null
        }));
    }

    /// Sends a control request of ours and waits for its answer (other lines are logged and
    /// dropped; `None` when stdin closes or an `interrupt` comes first).
    fn ask(&mut self, rx: &mpsc::Receiver<String>, request: Value) -> Option<Value> {
        self.next_request += 1;
        let id = format!("fake_req_{}", self.next_request);
        self.emit_json(json!({"type": "control_request", "request_id": id, "request": request}));
        loop {
            let line = rx.recv().ok()?;
            self.log(json!({"stdin": line}));
            let m: Value = serde_json::from_str(&line).unwrap_or(Value::Null);
            if m["type"] == "control_response" && m["response"]["request_id"] == id {
                return Some(m["response"].clone());
            }
            if m["request"]["subtype"] == "interrupt" {
                self.emit_json(json!({"type": "control_response", "response": {"subtype": "success", "request_id": m["request_id"], "response": {"still_queued": []}}}));
                return None;
            }
        }
    }

    fn mcp(&mut self, rx: &mpsc::Receiver<String>, message: Value) -> Option<Value> {
        let answer = self.ask(
            rx,
            json!({"subtype": "mcp_message", "server_name": "client", "message": message}),
        )?;
        Some(answer["response"]["mcp_response"].clone())
    }

    /// Lists the client's tools once, as the CLI does on its first turn.
    fn list_tools(&mut self, rx: &mpsc::Receiver<String>) {
        if self.tools.is_some() || !self.sdk_server {
            return;
        }
        self.mcp(rx, json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {"protocolVersion": "2025-11-25"}}));
        let list = self.mcp(
            rx,
            json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}),
        );
        let tools = list
            .and_then(|l| l["result"]["tools"].as_array().cloned())
            .unwrap_or_default();
        self.log(json!({"tools_list": tools}));
        self.tools = Some(tools);
    }

    /// A streamed call of the first client tool, its `tools/call`, and (unless `crash`) the
    /// answer reported in a second streamed message.
    fn client_tool(&mut self, rx: &mpsc::Receiver<String>, crash: bool) {
        let Some(tool) = self.tools.as_ref().and_then(|t| t.first()).cloned() else {
            self.init_line();
            self.result("no client tools", true, "error_during_execution");
            return;
        };
        let name = tool["name"].as_str().unwrap_or("tool").to_string();
        let mut input = serde_json::Map::new();
        for key in tool["inputSchema"]["required"]
            .as_array()
            .into_iter()
            .flatten()
        {
            if let Some(key) = key.as_str() {
                input.insert(key.into(), json!("Paris"));
            }
        }
        let input = Value::Object(input);
        let call_id = format!("toolu_fake_{}_{}", std::process::id(), self.next_request);
        self.init_line();
        self.event(json!({"type": "message_start", "message": {"id": "msg_fake_call", "type": "message", "role": "assistant", "model": "claude-opus-5-5", "content": [], "stop_reason": null, "stop_sequence": null, "usage": {"input_tokens": 7, "output_tokens": 1}}}));
        self.event(json!({"type": "content_block_start", "index": 0, "content_block": {"type": "tool_use", "id": call_id, "name": name, "input": {}, "caller": {"type": "direct"}}}));
        self.event(json!({"type": "content_block_delta", "index": 0, "delta": {"type": "input_json_delta", "partial_json": input.to_string()}}));
        self.event(json!({"type": "content_block_stop", "index": 0}));
        self.event(json!({"type": "message_delta", "delta": {"stop_reason": "tool_use", "stop_sequence": null}, "usage": {"input_tokens": 7, "output_tokens": 9}}));
        self.event(json!({"type": "message_stop"}));
        let call = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": name, "arguments": input, "_meta": {"claudecode/toolUseId": call_id, "progressToken": 2}}});
        if crash {
            self.next_request += 1;
            let id = format!("fake_req_{}", self.next_request);
            self.emit_json(json!({"type": "control_request", "request_id": id, "request": {"subtype": "mcp_message", "server_name": "client", "message": call}}));
            eprintln!("fake-claude: crashing while a tool call waits, as asked");
            std::process::exit(3);
        }
        let Some(answer) = self.mcp(rx, call) else {
            self.result("", true, "error_during_execution");
            return;
        };
        self.log(json!({"tool_answer": answer}));
        let result = &answer["result"];
        let text: String = result["content"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|c| c["text"].as_str())
            .collect();
        let session = self.session.clone();
        self.emit_json(json!({"type": "user", "message": {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call_id, "content": result["content"], "is_error": result["isError"]}]}, "parent_tool_use_id": null, "session_id": session}));
        let reply = format!("The tool returned: {text}");
        self.event(json!({"type": "message_start", "message": {"id": "msg_fake_after", "type": "message", "role": "assistant", "model": "claude-opus-5-5", "content": [], "stop_reason": null, "stop_sequence": null, "usage": {"input_tokens": 11, "output_tokens": 1}}}));
        self.event(json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}));
        if text == "FAKE_HANG" {
            // A continuation that goes on until it is interrupted.
            self.event(json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Still thinking"}}));
            self.hang(rx);
            return;
        }
        self.event(json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": reply}}));
        self.event(json!({"type": "content_block_stop", "index": 0}));
        self.event(json!({"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": null}, "usage": {"input_tokens": 11, "output_tokens": 6}}));
        self.event(json!({"type": "message_stop"}));
        let session = self.session.clone();
        self.emit_json(json!({
            "type": "result", "subtype": "success", "is_error": false, "result": reply,
            "stop_reason": "end_turn", "session_id": session, "total_cost_usd": 0.02, "num_turns": 2,
            "usage": {"input_tokens": 18, "output_tokens": 15, "cache_read_input_tokens": 0, "cache_creation_input_tokens": 0},
            "api_error_status": null
        }));
    }

    /// Nothing more until an interrupt, which ends the turn; false when stdin closed instead.
    fn hang(&mut self, rx: &mpsc::Receiver<String>) -> bool {
        while let Ok(l) = rx.recv() {
            self.log(json!({"stdin": l}));
            let m: Value = serde_json::from_str(&l).unwrap_or(Value::Null);
            if m["request"]["subtype"] == "interrupt" {
                self.emit_json(json!({"type": "control_response", "response": {"subtype": "success", "request_id": m["request_id"], "response": {"still_queued": []}}}));
                self.result("", false, "success");
                return true;
            }
        }
        false
    }

    fn echo(&mut self, content: &Value) {
        let text = content.to_string();
        self.init_line();
        self.event(json!({"type": "message_start", "message": {"id": "msg_fake_echo", "type": "message", "role": "assistant", "model": "claude-opus-5-5", "content": [], "stop_reason": null, "stop_sequence": null, "usage": {"input_tokens": 3, "output_tokens": 1}}}));
        self.event(json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}));
        let chars: Vec<char> = text.chars().collect();
        for piece in chars.chunks(40) {
            let piece: String = piece.iter().collect();
            self.event(json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": piece}}));
        }
        self.event(json!({"type": "content_block_stop", "index": 0}));
        self.event(json!({"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": null}, "usage": {"output_tokens": 5}}));
        self.event(json!({"type": "message_stop"}));
        self.result(&text, false, "success");
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--version") {
        let version =
            std::env::var("FAKE_CLAUDE_VERSION").unwrap_or_else(|_| "2.1.331 (Claude Code)".into());
        println!("{version}");
        return;
    }
    let log = std::env::var_os("FAKE_CLAUDE_LOG").and_then(|p| {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(p)
            .ok()
    });
    let sdk_server = args
        .iter()
        .position(|a| a == "--mcp-config")
        .and_then(|i| args.get(i + 1..))
        .is_some_and(|rest| {
            rest.iter()
                .take_while(|a| !a.starts_with("--"))
                .any(|a| a.contains("\"sdk\""))
        });
    let mut fake = Fake {
        tools: None,
        sdk_server,
        next_request: 0,
        log,
        session: format!("fake-session-{}", std::process::id()),
        partial: args.iter().any(|a| a == "--include-partial-messages"),
        out: std::io::stdout(),
    };
    // A long system prompt comes in a file: say how much of it could be read.
    let prompt_file_bytes = args
        .iter()
        .position(|a| a == "--system-prompt-file")
        .and_then(|i| args.get(i + 1))
        .map(|path| std::fs::read(path).map(|b| b.len()).unwrap_or(0));
    fake.log(json!({
        "system_prompt_file_bytes": prompt_file_bytes,
        "argv": args,
        "cwd": std::env::current_dir().unwrap_or_default(),
        "pid": std::process::id(),
        "entrypoint": std::env::var("CLAUDE_CODE_ENTRYPOINT").ok(),
        "nonessential": std::env::var("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC").ok(),
        "no_prefix": std::env::var("CLAUDE_AGENT_SDK_MCP_NO_PREFIX").ok(),
        "tool_search": std::env::var("ENABLE_TOOL_SEARCH").ok(),
        "mcp_tool_timeout": std::env::var("MCP_TOOL_TIMEOUT").ok(),
    }));

    // stdin is read on its own thread, so an `interrupt` reaches a turn in progress.
    let (tx, rx) = mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });

    let init_delay = std::env::var("FAKE_CLAUDE_INIT_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    while let Ok(line) = rx.recv() {
        fake.log(json!({"stdin": line}));
        let Ok(msg) = serde_json::from_str::<Value>(&line) else {
            continue;
        };
        match msg["type"].as_str() {
            Some("control_request") => {
                let id = msg["request_id"].clone();
                let answer = match msg["request"]["subtype"].as_str() {
                    Some("initialize") => {
                        std::thread::sleep(Duration::from_millis(init_delay));
                        serde_json::from_str::<Value>(INIT).expect("init json")
                    }
                    Some("set_model") => json!({"model": msg["request"]["model"]}),
                    Some("interrupt") => json!({"still_queued": []}),
                    _ => json!({}),
                };
                fake.emit_json(json!({"type": "control_response", "response": {"subtype": "success", "request_id": id, "response": answer}}));
            }
            Some("control_response") => {}
            Some("user") => {
                fake.list_tools(&rx);
                let content = &msg["message"]["content"];
                let text = content.to_string();
                if text.contains("FAKE_CLIENT_TOOL_CRASH") {
                    fake.client_tool(&rx, true);
                } else if text.contains("FAKE_CLIENT_TOOL") {
                    fake.client_tool(&rx, false);
                } else if text.contains("FAKE_TOOL") {
                    fake.replay(F4);
                } else if text.contains("FAKE_EXTRA_USAGE") {
                    // f3 with the reading upstream gives a request billed to extra usage.
                    let billed = F3
                        .replace("\"isUsingOverage\":false", "\"isUsingOverage\":true")
                        .replace(
                            "\"overageStatus\":\"rejected\"",
                            "\"overageStatus\":\"allowed\"",
                        )
                        .replace("\"utilization\":0.02", "\"utilization\":1.0")
                        // The 5-hour window resets an hour from now.
                        .replace("1795565951", &{
                            let now = std::time::SystemTime::now()
                                .duration_since(std::time::UNIX_EPOCH)
                                .map(|d| d.as_secs())
                                .unwrap_or(0);
                            (now + 3600).to_string()
                        });
                    fake.replay(&billed);
                } else if text.contains("FAKE_QUOTA") {
                    fake.replay(F3);
                } else if text.contains("FAKE_429") {
                    fake.replay(F6);
                } else if text.contains("FAKE_ERROR") {
                    fake.init_line();
                    fake.result("", true, "error_during_execution");
                } else if text.contains("FAKE_GARBAGE") {
                    fake.emit("this is not json");
                    fake.emit("{\"broken\": ");
                    let big = "x".repeat(2 * 1024 * 1024);
                    fake.emit_json(json!({"type": "some_future_type", "blob": big}));
                    fake.emit_json(json!({"type": "rate_limit_event", "rate_limit_info": {"status": "allowed"}}));
                    fake.replay(F5);
                } else if text.contains("FAKE_CRASH") {
                    fake.stream_start();
                    eprintln!("fake-claude: crashing as asked");
                    std::process::exit(3);
                } else if text.contains("FAKE_HANG") {
                    fake.stream_start();
                    if !fake.hang(&rx) {
                        return;
                    }
                } else if text.contains("FAKE_ECHO") {
                    fake.echo(content);
                } else if fake.partial {
                    fake.replay(F5);
                } else {
                    fake.replay(F1);
                }
            }
            _ => {}
        }
    }
}
