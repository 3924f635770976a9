//! The OpenAI surfaces of Claude Code mode.

use super::*;

#[tokio::test]
async fn chat_completions_json_and_stream() {
    let h = Harness::new().await;
    let r = h
        .post(
            "/sdk/v1/chat/completions",
            &json!({"model": "gpt-4o", "messages": [{"role": "system", "content": "Be terse."}, {"role": "user", "content": "hello"}]}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["object"], "chat.completion");
    assert_eq!(v["model"], "gpt-4o");
    assert_eq!(v["choices"][0]["message"]["content"], "hello from the");
    assert_eq!(v["choices"][0]["finish_reason"], "stop");
    assert_eq!(v["usage"]["completion_tokens"], 3);
    // The system message became the CLI's system prompt; the alias its model.
    let argv = h.log()[0]["argv"].clone();
    let argv: Vec<&str> = argv
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert_eq!(
        argv[argv.iter().position(|a| *a == "--system-prompt").unwrap() + 1],
        "Be terse."
    );
    assert_eq!(
        argv[argv.iter().position(|a| *a == "--model").unwrap() + 1],
        "claude-sonnet-4-20250514"
    );

    let r = h
        .post(
            "/sdk/chat/completions",
            &json!({"model": "gpt-4o", "stream": true, "stream_options": {"include_usage": true}, "messages": [{"role": "user", "content": "hello"}]}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let text = r.text().await.unwrap();
    assert!(text.trim_end().ends_with("data: [DONE]"));
    let chunks: Vec<Value> = text
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .filter(|d| *d != "[DONE]")
        .map(|d| serde_json::from_str(d).unwrap())
        .collect();
    let content: Vec<&str> = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .filter(|c| !c.is_empty())
        .collect();
    assert_eq!(content, ["hello", " from", " the"]);
    assert_eq!(chunks.last().unwrap()["usage"]["completion_tokens"], 3);
}

#[tokio::test]
async fn responses_json_and_stream() {
    let h = Harness::new().await;
    let r = h
        .post(
            "/sdk/v1/responses",
            &json!({"model": "gpt-4o", "input": "hello", "instructions": "Be terse."}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["object"], "response");
    assert_eq!(v["status"], "completed");
    assert_eq!(v["output"][0]["content"][0]["text"], "hello from the");
    let r = h
        .post(
            "/sdk/responses",
            &json!({"model": "gpt-4o", "input": "FAKE_TOOL run it", "stream": true}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let text = r.text().await.unwrap();
    let events = sse_events(&text);
    let done = events
        .iter()
        .find(|(n, _)| n == "response.completed")
        .unwrap();
    let out: String = done.1["response"]["output"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|o| o["content"].as_array().cloned().unwrap_or_default())
        .filter_map(|c| c["text"].as_str().map(String::from))
        .collect();
    assert!(
        out.contains("⏺ Bash(") && out.contains("The tool returned: hi"),
        "{out}"
    );
    assert!(
        !text.contains("function_call"),
        "the CLI's tools are not client tools"
    );
}

#[tokio::test]
async fn models_come_from_the_cli_once_it_has_started() {
    let h = Harness::new().await;
    let before = h.get_json("/sdk/v1/models").await;
    assert_eq!(before["source"], "config");
    assert!(before["data"]
        .as_array()
        .unwrap()
        .iter()
        .any(|m| m["id"] == "claude-sonnet-4-20250514"));
    h.post("/sdk/v1/messages", &user("hello"))
        .await
        .text()
        .await
        .unwrap();
    let after = h.get_json("/sdk/models").await;
    assert_eq!(after["source"], "claude-cli");
    let ids: Vec<&str> = after["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert!(ids.contains(&"opus") && ids.contains(&"sonnet"), "{ids:?}");
    assert_eq!(after["data"][1]["display_name"], "Opus");
    assert_eq!(after["data"][1]["object"], "model");
}
