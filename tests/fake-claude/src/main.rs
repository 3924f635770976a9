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
//! | `FAKE_429`     | `f6`: upstream answered 429; the `result` is an error                   |
//! | `FAKE_ERROR`   | an error `result` with no API status (`error_during_execution`)          |
//! | `FAKE_GARBAGE` | non-JSON noise, a 2 MiB line of an unknown type, then `f5`               |
//! | `FAKE_CRASH`   | the start of a stream, then exit code 3                                   |
//! | `FAKE_HANG`    | the start of a stream, then nothing until `interrupt`                     |
//! | `FAKE_ECHO`    | a streamed reply whose text is the user content it received, as JSON     |
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
    let mut fake = Fake {
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
                let content = &msg["message"]["content"];
                let text = content.to_string();
                if text.contains("FAKE_TOOL") {
                    fake.replay(F4);
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
                    // Nothing more until an interrupt (or stdin closes).
                    loop {
                        match rx.recv() {
                            Ok(l) => {
                                fake.log(json!({"stdin": l}));
                                let m: Value = serde_json::from_str(&l).unwrap_or(Value::Null);
                                if m["request"]["subtype"] == "interrupt" {
                                    fake.emit_json(json!({"type": "control_response", "response": {"subtype": "success", "request_id": m["request_id"], "response": {"still_queued": []}}}));
                                    fake.result("", false, "success");
                                    break;
                                }
                            }
                            Err(_) => return,
                        }
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
