//! Arbitrary JSON through both request translators: every input is either translated or
//! refused with a field-naming error; nothing may panic.
#![no_main]

use ccproxy_protocol::openai::chat_request::{self, Options};
use ccproxy_protocol::openai::responses;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(data) else { return };
    let aliases = [("gpt-4o".to_string(), "claude-sonnet-4-20250514".to_string())];
    let options = Options { default_max_tokens: 8192, aliases: &aliases };
    if let Err(e) = chat_request::translate(&value, &options) {
        assert!(!e.message.is_empty());
    }
    if let Err(e) = responses::translate(&value, &options) {
        assert!(!e.message.is_empty());
    }
});
