//! Fixture-driven snapshot tests of the pure translations: each input file under `fixtures/`
//! is translated and the result compared with its `.snap.json` beside it.
//!
//! A missing snapshot fails the test; `UPDATE_SNAPSHOTS=1 cargo test -p ccproxy-protocol --test
//! fixtures` writes the snapshots (review the diff before committing them).
// A test fails loudly on the first surprise: unwrap and expect are how it says so.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)]

use ccproxy_protocol::openai::chat_request::{self, Options};
use ccproxy_protocol::openai::chat_stream::ChatStream;
use ccproxy_protocol::openai::responses::{self, Echo, ResponsesStream};
use ccproxy_protocol::openai::{chat_response, ResponseContext};
use ccproxy_protocol::sse::SseDecoder;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

fn fixtures(dir: &str, ext: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(dir);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy();
            name.ends_with(ext) && !name.ends_with(".snap.json")
        })
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no fixtures in {}", dir.display());
    files
}

/// Compares `actual` with the snapshot `<input>.<kind>.snap.json`.
fn check(input: &Path, kind: &str, actual: &Value) {
    let stem = input.file_stem().unwrap().to_string_lossy();
    let snap = input.with_file_name(format!("{stem}.{kind}.snap.json"));
    let rendered = serde_json::to_string_pretty(actual).unwrap() + "\n";
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
        std::fs::write(&snap, &rendered).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&snap).unwrap_or_else(|_| {
        panic!(
            "missing snapshot {} (UPDATE_SNAPSHOTS=1 writes it)",
            snap.display()
        )
    });
    assert_eq!(
        rendered,
        expected,
        "{} differs from its snapshot",
        input.display()
    );
}

fn aliases() -> Vec<(String, String)> {
    ccproxy_default_aliases()
}

/// The aliases the server ships with (kept in step with `OpenAiConfig::default`).
fn ccproxy_default_aliases() -> Vec<(String, String)> {
    [
        ("gpt-4o", "claude-sonnet-4-20250514"),
        ("gpt-4o-mini", "claude-3-5-haiku-20241022"),
        ("gpt-3.5-turbo", "claude-3-5-haiku-20241022"),
        ("o4-mini", "claude-sonnet-4-20250514"),
    ]
    .into_iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect()
}

fn outcome(
    result: Result<chat_request::Translated, ccproxy_protocol::openai::RequestError>,
) -> Value {
    match result {
        Ok(t) => json!({
            "anthropic": t.body,
            "stream": t.stream,
            "include_usage": t.include_usage,
            "requested_model": t.requested_model,
            "ignored": t.ignored,
            "structured_tool": t.structured_tool,
        }),
        Err(e) => json!({"error": e.body()}),
    }
}

#[test]
fn chat_requests() {
    let aliases = aliases();
    let options = Options {
        default_max_tokens: 8192,
        aliases: &aliases,
    };
    for input in fixtures("chat_requests", ".json") {
        let req: Value = serde_json::from_slice(&std::fs::read(&input).unwrap()).unwrap();
        check(
            &input,
            "anthropic",
            &outcome(chat_request::translate(&req, &options)),
        );
    }
}

#[test]
fn responses_requests() {
    let aliases = aliases();
    let options = Options {
        default_max_tokens: 8192,
        aliases: &aliases,
    };
    for input in fixtures("responses_requests", ".json") {
        let req: Value = serde_json::from_slice(&std::fs::read(&input).unwrap()).unwrap();
        check(
            &input,
            "anthropic",
            &outcome(responses::translate(&req, &options)),
        );
    }
}

fn ctx(id: &str) -> ResponseContext {
    ResponseContext {
        id: id.into(),
        created: 1_764_000_000,
        model: "gpt-4o".into(),
        include_usage: true,
        structured_tool: None,
        namespaced: Vec::new(),
        now: || 1_700_000_100,
    }
}

#[test]
fn messages() {
    for input in fixtures("messages", ".json") {
        let message: Value = serde_json::from_slice(&std::fs::read(&input).unwrap()).unwrap();
        check(
            &input,
            "chat",
            &chat_response::translate(&message, &ctx("chatcmpl-fixture")),
        );
        check(
            &input,
            "responses",
            &responses::translate_response(&message, &ctx("resp_fixture"), &Echo::default()),
        );
    }
}

#[test]
fn streams() {
    for input in fixtures("streams", ".sse") {
        let bytes = std::fs::read(&input).unwrap();
        let mut decoder = SseDecoder::new();
        let mut events = Vec::new();
        decoder.push(&bytes, &mut events);
        decoder.finish(&mut events);
        let mut chat = ChatStream::new(ctx("chatcmpl-fixture"));
        let mut chunks: Vec<Value> = events.iter().flat_map(|e| chat.push(e)).collect();
        chunks.extend(chat.finish());
        check(&input, "chat", &Value::Array(chunks));
        let mut resp = ResponsesStream::new(ctx("resp_fixture"), Echo::default());
        let mut out: Vec<(String, Value)> = events.iter().flat_map(|e| resp.push(e)).collect();
        out.extend(resp.finish());
        let out: Vec<Value> = out
            .into_iter()
            .map(|(name, data)| json!({"event": name, "data": data}))
            .collect();
        check(&input, "responses", &Value::Array(out));
    }
}
