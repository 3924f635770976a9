//! What an Anthropic response says about itself: the model that served it and its token usage,
//! read from a whole JSON message or from the events of a stream.

use crate::sse::SseDecoder;
use serde_json::Value;

/// Tokens of one response, and the model that served it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Usage {
    pub model: Option<String>,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cache_read_tokens: u64,
    /// Cache writes with a 5-minute lifetime (all writes when the split is not reported).
    pub cache_write_5m_tokens: u64,
    /// Cache writes with a 1-hour lifetime.
    pub cache_write_1h_tokens: u64,
}

impl Usage {
    /// All cache writes.
    pub fn cache_write_tokens(&self) -> u64 {
        self.cache_write_5m_tokens + self.cache_write_1h_tokens
    }

    fn merge(&mut self, usage: &Value) {
        let n = |k: &str| usage.get(k).and_then(Value::as_u64);
        if let Some(v) = n("input_tokens") {
            self.input_tokens = v;
        }
        if let Some(v) = n("output_tokens") {
            self.output_tokens = v;
        }
        if let Some(v) = n("cache_read_input_tokens") {
            self.cache_read_tokens = v;
        }
        let split = &usage["cache_creation"];
        match (
            split["ephemeral_5m_input_tokens"].as_u64(),
            split["ephemeral_1h_input_tokens"].as_u64(),
        ) {
            (Some(m5), Some(h1)) => {
                self.cache_write_5m_tokens = m5;
                self.cache_write_1h_tokens = h1;
            }
            _ => {
                if let Some(v) = n("cache_creation_input_tokens") {
                    self.cache_write_5m_tokens = v;
                    self.cache_write_1h_tokens = 0;
                }
            }
        }
    }
}

/// Usage of a whole (non-streamed) message body; `None` if it is not a message.
pub fn from_message(body: &[u8]) -> Option<Usage> {
    let v: Value = serde_json::from_slice(body).ok()?;
    if v["type"] != "message" && v.get("usage").is_none() {
        return None;
    }
    let mut u = Usage {
        model: v["model"].as_str().map(String::from),
        ..Usage::default()
    };
    u.merge(&v["usage"]);
    Some(u)
}

/// Usage of a streamed message, from its raw SSE bytes in any chunking.
pub fn from_stream<'a>(chunks: impl IntoIterator<Item = &'a [u8]>) -> Option<Usage> {
    let mut decoder = SseDecoder::new();
    let mut events = Vec::new();
    for c in chunks {
        decoder.push(c, &mut events);
    }
    decoder.finish(&mut events);
    let mut usage: Option<Usage> = None;
    for e in events {
        let Ok(v) = serde_json::from_str::<Value>(&e.data) else {
            continue;
        };
        match v["type"].as_str() {
            Some("message_start") => {
                let mut u = Usage {
                    model: v["message"]["model"].as_str().map(String::from),
                    ..Usage::default()
                };
                u.merge(&v["message"]["usage"]);
                usage = Some(u);
            }
            Some("message_delta") => {
                if let Some(u) = usage.as_mut() {
                    u.merge(&v["usage"]);
                }
            }
            _ => {}
        }
    }
    usage
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_usage() {
        let u = from_message(br#"{"type":"message","model":"claude-x","usage":{"input_tokens":5,"output_tokens":7,"cache_read_input_tokens":3,"cache_creation_input_tokens":4,"cache_creation":{"ephemeral_5m_input_tokens":1,"ephemeral_1h_input_tokens":3}}}"#).unwrap();
        assert_eq!(
            (u.input_tokens, u.output_tokens, u.cache_read_tokens),
            (5, 7, 3)
        );
        assert_eq!((u.cache_write_5m_tokens, u.cache_write_1h_tokens), (1, 3));
        assert_eq!(u.model.as_deref(), Some("claude-x"));
        assert!(from_message(b"{\"type\":\"error\"}").is_none());
    }

    #[test]
    fn stream_usage_in_any_chunking() {
        let sse = "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"model\":\"m\",\"usage\":{\"input_tokens\":9,\"output_tokens\":1,\"cache_creation_input_tokens\":2}}}\n\nevent: message_delta\ndata: {\"type\":\"message_delta\",\"usage\":{\"output_tokens\":40}}\n\n";
        let whole = from_stream([sse.as_bytes()]).unwrap();
        assert_eq!(
            (
                whole.input_tokens,
                whole.output_tokens,
                whole.cache_write_5m_tokens
            ),
            (9, 40, 2)
        );
        let pieces: Vec<&[u8]> = sse.as_bytes().chunks(7).collect();
        assert_eq!(from_stream(pieces), Some(whole));
    }
}
