//! Claude Code mode's translations on the real CLI transcripts (`tests/fake-claude/transcripts`,
//! recorded from claude 2.1.331): every turn becomes one well-formed Anthropic message.
// A test fails loudly on the first surprise: unwrap and expect are how it says so.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)]

use ccproxy_protocol::claude_cli::{
    history_keys, parse_request, user_content, Accumulator, Events, Turn,
};
use serde_json::{json, Value};

fn transcript(name: &str) -> Vec<Value> {
    let path = format!(
        "{}/../../tests/fake-claude/transcripts/{name}.stdout.jsonl",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn run(name: &str) -> (Events, Turn) {
    let mut turn = Turn::new("fallback-model", "msg_fallback");
    let mut events = Vec::new();
    for line in transcript(name) {
        events.extend(turn.push(&line));
    }
    assert!(turn.is_done(), "{name}: the result line ends the turn");
    (events, turn)
}

/// message_start first; blocks numbered 0.. in order, each started, then deltas, then stopped;
/// message_delta and message_stop last.
fn assert_well_formed(events: &Events) {
    assert_eq!(events[0].0, "message_start");
    let mut open: Option<u64> = None;
    let mut next = 0;
    for (name, data) in &events[1..events.len() - 2] {
        match *name {
            "content_block_start" => {
                assert!(open.is_none());
                assert_eq!(data["index"], next);
                open = Some(next);
                next += 1;
            }
            "content_block_delta" => assert_eq!(Some(data["index"].as_u64().unwrap()), open),
            "content_block_stop" => {
                assert_eq!(Some(data["index"].as_u64().unwrap()), open);
                open = None;
            }
            other => panic!("unexpected {other} inside the message"),
        }
    }
    assert_eq!(events[events.len() - 2].0, "message_delta");
    assert_eq!(events[events.len() - 1].0, "message_stop");
}

fn text(events: &Events) -> String {
    let mut acc = Accumulator::default();
    for (n, d) in events {
        acc.push(n, d);
    }
    acc.message()["content"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|b| b["text"].as_str())
        .collect()
}

#[test]
fn text_replies_streamed_or_not() {
    for name in ["f1", "f5"] {
        let (events, turn) = run(name);
        assert_well_formed(&events);
        let expected = if name == "f1" {
            "hello from the mock anthropic server this is a deterministic reply made"
        } else {
            "hello from the"
        };
        assert_eq!(text(&events), expected);
        assert_eq!(turn.text(), expected);
        assert_eq!(turn.model(), Some("claude-opus-5-5"));
        assert!(turn.cost_usd().unwrap() > 0.0);
    }
    // f5's tokens arrive one delta at a time.
    let (events, _) = run("f5");
    let deltas = events
        .iter()
        .filter(|(n, _)| *n == "content_block_delta")
        .count();
    assert_eq!(deltas, 3);
}

#[test]
fn tool_use_becomes_text_and_usage_is_the_turns_total() {
    let (events, turn) = run("f4");
    assert_well_formed(&events);
    assert!(!serde_json::to_string(&events)
        .unwrap()
        .contains("\"tool_use\""));
    let t = text(&events);
    assert_eq!(
        t,
        "I'll run that command.\n⏺ Bash({\"command\":\"echo hi\",\"description\":\"Print hi\"})\n  ⎿ hi\nThe tool returned: hi"
    );
    assert_eq!(turn.text(), t);
    let (_, last) = &events[events.len() - 2];
    assert_eq!(last["usage"]["output_tokens"], 30);
    assert_eq!(last["usage"]["input_tokens"], 8);
    assert_eq!(last["delta"]["stop_reason"], "end_turn");
}

#[test]
fn an_api_error_is_an_error_not_content() {
    let (events, turn) = run("f6");
    assert!(
        events.is_empty(),
        "nothing was shown before the error: {events:?}"
    );
    let e = turn.error().unwrap();
    assert_eq!((e.status, e.kind.as_str()), (429, "rate_limit_error"));
    assert!(e.message.contains("429"));
}

#[test]
fn status_lines_subagent_lines_and_unknown_fields_change_nothing() {
    let (plain, _) = run("f5");
    let mut turn = Turn::new("m", "msg_x");
    let mut events = Vec::new();
    for mut line in transcript("f5") {
        events.extend(turn.push(&json!({"type": "system", "subtype": "status"})));
        let mut sub = line.clone();
        sub["parent_tool_use_id"] = json!("toolu_sub");
        events.extend(turn.push(&sub));
        line["unknown_field"] = json!(1);
        events.extend(turn.push(&line));
    }
    assert_eq!(events, plain);
}

#[test]
fn the_request_side() {
    let req = json!({"model": "sonnet", "max_tokens": 5, "system": "S", "messages": [
        {"role": "user", "content": "a"},
        {"role": "assistant", "content": [{"type": "text", "text": "b"}]},
        {"role": "user", "content": [{"type": "text", "text": "c"}]}
    ]});
    let parsed = parse_request(&req).unwrap();
    assert_eq!(parsed.system, "S");
    assert_eq!(parsed.ignored, ["max_tokens"]);
    // A session holding the first two messages gets only the third.
    assert_eq!(
        user_content(&parsed.messages, 2),
        json!([{"type": "text", "text": "c"}])
    );
    // The assistant's key is the same whether the client sends its text as a string or blocks.
    let as_string = history_keys(&[json!({"role": "assistant", "content": "b"})]);
    assert_eq!(history_keys(&parsed.messages[1..2]), as_string);
    let mut bad = req.clone();
    bad["cwd"] = json!("/");
    assert!(parse_request(&bad)
        .unwrap_err()
        .0
        .contains("server setting"));
}
