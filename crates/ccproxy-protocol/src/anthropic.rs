//! The Anthropic Messages API: what an OAuth (subscription) token requires of a request, the
//! events of a message stream, and reading tokens from them.
//!
//! The request body is treated as opaque bytes except for the one top-level `system` field, so
//! unknown fields, thinking blocks and `role:"system"` turns pass upstream untouched: upstream,
//! not the proxy, is the judge of a request.

pub mod beta;
pub mod identity;
pub mod message;
pub mod usage;

use crate::sse::SseEvent;
use serde_json::Value;

/// An SSE event of a message stream as `(type, data)`: the type is the `event:` name, else the
/// data's `type` field. `None` when the data is not JSON.
pub fn decode_event(event: &SseEvent) -> Option<(String, Value)> {
    let data: Value = serde_json::from_str(&event.data).ok()?;
    let kind = match &event.event {
        Some(name) => name.clone(),
        None => data["type"].as_str().unwrap_or("").to_string(),
    };
    Some((kind, data))
}
