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

/// Usage of a streamed message, from its raw SSE bytes in any chunking. Only two events are
/// parsed: the first `message_start` (model, input and cache tokens) and the last
/// `message_delta` (the final counts), found by substring search — the content deltas between
/// them are never looked at. (In a data line the JSON is compact, and inside a string a quote
/// is escaped, so `"message_start"` only matches an event's type.)
pub fn from_stream<'a>(chunks: impl IntoIterator<Item = &'a [u8]>) -> Option<Usage> {
    let chunks: Vec<&[u8]> = chunks.into_iter().collect();
    let joined;
    let all: &[u8] = match chunks.as_slice() {
        [one] => one,
        many => {
            joined = many.concat();
            &joined
        }
    };
    let start_at = memchr::memmem::find(all, b"\"message_start\"")?;
    let start: MessageProbe = serde_json::from_slice(data_line(all, start_at)?).ok()?;
    let message = start.message.as_deref();
    let mut usage = Usage {
        model: message.and_then(|m| m.model.clone()),
        ..Usage::default()
    };
    if let Some(v) = message.and_then(|m| m.usage.as_ref()) {
        usage.merge(v);
    }
    if let Some(delta_at) = memchr::memmem::rfind(all, b"\"message_delta\"") {
        if let Some(delta) = data_line(all, delta_at)
            .and_then(|line| serde_json::from_slice::<MessageProbe>(line).ok())
        {
            if let Some(v) = delta.usage.as_ref() {
                usage.merge(v);
            }
        }
    }
    Some(usage)
}

/// The JSON of the `data:` line containing byte `at`.
fn data_line(all: &[u8], at: usize) -> Option<&[u8]> {
    let begin = memchr::memrchr(b'\n', &all[..at]).map_or(0, |i| i + 1);
    let end = memchr::memchr(b'\n', &all[at..]).map_or(all.len(), |i| at + i);
    all[begin..end]
        .strip_prefix(b"data:")
        .map(<[u8]>::trim_ascii)
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
