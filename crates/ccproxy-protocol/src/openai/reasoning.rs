//! Claude's thinking blocks carried through OpenAI clients. Upstream requires, with thinking on,
//! that the assistant turn whose tool calls are being answered start with its thinking block —
//! unchanged, with its signature. OpenAI clients keep what they are given: a Responses
//! `reasoning` item's `encrypted_content` (which clients ask for with
//! `include: ["reasoning.encrypted_content"]` and send back) holds the block, sealed here; a Chat
//! Completions assistant message may carry `thinking_blocks` (the spelling other gateways use).
//! When the history cannot carry them, thinking is turned off for the request (and reported)
//! rather than sending a request upstream refuses.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::Value;

/// What marks CCProxy's sealed blocks (an `encrypted_content` from elsewhere is not ours).
const SEAL: &str = "ccproxy.thinking.v1:";

/// A thinking block (`thinking` with its text and signature, or `redacted_thinking` with its
/// data) as the client may hold it: `None` for anything else.
pub fn valid_block(block: &Value) -> Option<Value> {
    let ok = match block["type"].as_str() {
        Some("thinking") => block["thinking"].is_string() && block["signature"].is_string(),
        Some("redacted_thinking") => block["data"].is_string(),
        _ => false,
    };
    ok.then(|| block.clone())
}

/// `block`, sealed as opaque `encrypted_content`; `None` when it is not a complete block.
pub fn seal(block: &Value) -> Option<String> {
    let block = valid_block(block)?;
    Some(format!(
        "{SEAL}{}",
        URL_SAFE_NO_PAD.encode(block.to_string())
    ))
}

/// The thinking block sealed in `encrypted_content`, if CCProxy sealed it.
pub fn open(encrypted_content: &str) -> Option<Value> {
    let bytes = URL_SAFE_NO_PAD
        .decode(encrypted_content.strip_prefix(SEAL)?)
        .ok()?;
    valid_block(&serde_json::from_slice(&bytes).ok()?)
}

/// Whether upstream would refuse thinking for these Anthropic `messages`: the conversation ends
/// with tool results, and the assistant turn that called those tools does not start with a
/// thinking block.
pub fn open_tool_loop_lacks_thinking(messages: &[Value]) -> bool {
    let ends_in_results = messages.last().is_some_and(|m| {
        m["role"] == "user"
            && m["content"]
                .as_array()
                .is_some_and(|blocks| blocks.iter().any(|b| b["type"] == "tool_result"))
    });
    if !ends_in_results {
        return false;
    }
    let Some(assistant) = messages.iter().rev().find(|m| m["role"] == "assistant") else {
        return false;
    };
    !matches!(
        assistant["content"][0]["type"].as_str(),
        Some("thinking" | "redacted_thinking")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn sealed_blocks_open_and_foreign_ones_do_not() {
        let block = json!({"type": "thinking", "thinking": "Let me see.", "signature": "c2ln"});
        let sealed = seal(&block).unwrap();
        assert_eq!(open(&sealed).unwrap(), block);
        let redacted = json!({"type": "redacted_thinking", "data": "abc"});
        assert_eq!(open(&seal(&redacted).unwrap()).unwrap(), redacted);
        assert!(seal(&json!({"type": "thinking", "thinking": "no signature"})).is_none());
        assert!(open("gAAAAABopenai-encrypted").is_none());
        assert!(open(&format!("{SEAL}not base64!")).is_none());
    }

    #[test]
    fn an_open_tool_loop_needs_thinking_first() {
        let call = json!({"role": "assistant", "content": [{"type": "tool_use", "id": "t", "name": "f", "input": {}}]});
        let result = json!({"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t", "content": "ok"}]});
        let user = json!({"role": "user", "content": "hi"});
        assert!(open_tool_loop_lacks_thinking(&[
            user.clone(),
            call.clone(),
            result.clone()
        ]));
        let mut thought = call.clone();
        thought["content"].as_array_mut().unwrap().insert(
            0,
            json!({"type": "thinking", "thinking": "x", "signature": "s"}),
        );
        assert!(!open_tool_loop_lacks_thinking(&[
            user.clone(),
            thought,
            result
        ]));
        assert!(!open_tool_loop_lacks_thinking(&[user.clone(), call, user]));
    }
}
