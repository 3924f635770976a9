//! Arbitrary bytes, split at arbitrary points, through the SSE decoder and both stream
//! translators (Chat Completions and Responses). Nothing may panic, and the output must not
//! depend on how the bytes were split.
#![no_main]

use ccproxy_protocol::openai::chat_stream::ChatStream;
use ccproxy_protocol::openai::responses::{Echo, ResponsesStream};
use ccproxy_protocol::openai::ResponseContext;
use ccproxy_protocol::sse::SseDecoder;
use libfuzzer_sys::fuzz_target;

fn run(data: &[u8], step: usize) -> (Vec<serde_json::Value>, Vec<(String, serde_json::Value)>) {
    let ctx = ResponseContext {
        id: "id".into(),
        created: 0,
        model: "m".into(),
        include_usage: true,
        structured_tool: Some("structured_output".into()),
        namespaced: Vec::new(),
        now: || 0,
    };
    let mut decoder = SseDecoder::new();
    let mut chat = ChatStream::new(ctx.clone());
    let mut responses = ResponsesStream::new(ctx, Echo::default());
    let (mut events, mut a, mut b) = (Vec::new(), Vec::new(), Vec::new());
    for chunk in data.chunks(step.max(1)) {
        decoder.push(chunk, &mut events);
        for e in events.drain(..) {
            a.extend(chat.push(&e));
            b.extend(responses.push(&e));
        }
    }
    decoder.finish(&mut events);
    for e in events.drain(..) {
        a.extend(chat.push(&e));
        b.extend(responses.push(&e));
    }
    a.extend(chat.finish());
    b.extend(responses.finish());
    (a, b)
}

fuzz_target!(|data: &[u8]| {
    let Some((&step, rest)) = data.split_first() else { return };
    assert_eq!(run(rest, step as usize), run(rest, rest.len()));
});
