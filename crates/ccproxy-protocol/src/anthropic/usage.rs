//! What an Anthropic response says about itself: the model that served it and its token usage,
//! read from a whole JSON message or from the events of a stream.

use serde::Deserialize;
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

/// The parts of a message this module reads; the content is skipped, not built.
#[derive(Deserialize)]
struct MessageProbe {
    #[serde(default, rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    model: Option<String>,
    #[serde(default)]
    usage: Option<Value>,
    #[serde(default)]
    message: Option<Box<MessageProbe>>,
    #[allow(dead_code)]
    #[serde(default)]
    content: serde::de::IgnoredAny,
}

/// Usage of a whole (non-streamed) message body; `None` if it is not a message.
pub fn from_message(body: &[u8]) -> Option<Usage> {
    let m: MessageProbe = serde_json::from_slice(body).ok()?;
    if m.kind.as_deref() != Some("message") && m.usage.is_none() {
        return None;
    }
    let mut u = Usage {
        model: m.model,
        ..Usage::default()
    };
    u.merge(m.usage.as_ref().unwrap_or(&Value::Null));
    Some(u)
}

/// Usage of a streamed message, from its raw SSE bytes in any chunking. Only the
/// `message_start` and `message_delta` events are parsed; the deltas of the content are skipped
/// by a substring test.
pub fn from_stream<'a>(chunks: impl IntoIterator<Item = &'a [u8]>) -> Option<Usage> {
    let mut all = Vec::new();
    for c in chunks {
        all.extend_from_slice(c);
    }
    let mut usage: Option<Usage> = None;
    for line in all.split(|b| *b == b'\n') {
        let Some(data) = line.strip_prefix(b"data:") else {
            continue;
        };
        let start = contains(data, b"\"message_start\"");
        if !start && !contains(data, b"\"message_delta\"") {
            continue;
        }
        let Ok(event) = serde_json::from_slice::<MessageProbe>(data.trim_ascii()) else {
            continue;
        };
        match event.kind.as_deref() {
            Some("message_start") => {
                let message = event.message.as_deref();
                let mut u = Usage {
                    model: message.and_then(|m| m.model.clone()),
                    ..Usage::default()
                };
                if let Some(v) = message.and_then(|m| m.usage.as_ref()) {
                    u.merge(v);
                }
                usage = Some(u);
            }
            Some("message_delta") => {
                if let (Some(u), Some(v)) = (usage.as_mut(), event.usage.as_ref()) {
                    u.merge(v);
                }
            }
            _ => {}
        }
    }
    usage
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
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
