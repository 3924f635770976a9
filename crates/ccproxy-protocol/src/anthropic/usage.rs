//! What an Anthropic response says about itself: the model that served it and its token usage,
//! read from a whole JSON message or from the events of a stream.

use memchr::memmem::{Finder, FinderRev};
use serde::Deserialize;
use std::borrow::Cow;
use std::sync::LazyLock;

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

    fn merge(&mut self, usage: &UsageProbe) {
        if let Some(v) = usage.input_tokens {
            self.input_tokens = v;
        }
        if let Some(v) = usage.output_tokens {
            self.output_tokens = v;
        }
        if let Some(v) = usage.cache_read_input_tokens {
            self.cache_read_tokens = v;
        }
        let split = usage.cache_creation.as_ref();
        match (
            split.and_then(|s| s.ephemeral_5m_input_tokens),
            split.and_then(|s| s.ephemeral_1h_input_tokens),
        ) {
            (Some(m5), Some(h1)) => {
                self.cache_write_5m_tokens = m5;
                self.cache_write_1h_tokens = h1;
            }
            _ => {
                if let Some(v) = usage.cache_creation_input_tokens {
                    self.cache_write_5m_tokens = v;
                    self.cache_write_1h_tokens = 0;
                }
            }
        }
    }
}

/// A `usage` object, typed: no map is built, unknown fields are skipped.
#[derive(Deserialize, Default)]
struct UsageProbe {
    input_tokens: Option<u64>,
    output_tokens: Option<u64>,
    cache_read_input_tokens: Option<u64>,
    cache_creation_input_tokens: Option<u64>,
    cache_creation: Option<CacheSplit>,
}

#[derive(Deserialize)]
struct CacheSplit {
    ephemeral_5m_input_tokens: Option<u64>,
    ephemeral_1h_input_tokens: Option<u64>,
}

/// What a message without usage says of itself; the rest (the content first of all) is
/// skipped, not built.
#[derive(Deserialize)]
struct MessageProbe<'a> {
    #[serde(default, rename = "type", borrow)]
    kind: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    model: Option<Cow<'a, str>>,
}

static USAGE_KEY: LazyLock<FinderRev<'static>> = LazyLock::new(|| FinderRev::new(b"\"usage\":"));
static MODEL_KEY: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(b"\"model\":"));

/// The JSON value that starts at byte `at` (after optional whitespace); what follows it is not
/// looked at.
fn value_at<'a, T: Deserialize<'a>>(json: &'a [u8], at: usize) -> Option<T> {
    let mut de = serde_json::Deserializer::from_slice(json.get(at..)?);
    T::deserialize(&mut de).ok()
}

/// Usage of a whole (non-streamed) message body; `None` if it is not a message.
///
/// Only two values are parsed, found by substring search: the last `"usage":` (a message ends
/// with its usage, after the content) and the first `"model":` (it comes before the content).
/// Inside a JSON string a quote is escaped, so these only match keys. A body without a
/// `"usage":` key is parsed whole.
pub fn from_message(body: &[u8]) -> Option<Usage> {
    let Some(at) = USAGE_KEY.rfind(body) else {
        return from_whole_message(body);
    };
    let mut u = Usage {
        model: model_in(body),
        ..Usage::default()
    };
    if let Some(usage) = usage_after(body, at) {
        u.merge(&usage);
    }
    Some(u)
}

fn from_whole_message(body: &[u8]) -> Option<Usage> {
    let m: MessageProbe = serde_json::from_slice(body).ok()?;
    if m.kind.as_deref() != Some("message") {
        return None;
    }
    Some(Usage {
        model: m.model.map(Cow::into_owned),
        ..Usage::default()
    })
}

static MESSAGE_START: LazyLock<Finder<'static>> =
    LazyLock::new(|| Finder::new(b"\"message_start\""));
static MESSAGE_DELTA: LazyLock<FinderRev<'static>> =
    LazyLock::new(|| FinderRev::new(b"\"message_delta\""));

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
    let start_at = MESSAGE_START.find(all)?;
    let start = data_line(all, start_at)?;
    let mut usage = Usage {
        model: model_in(start),
        ..Usage::default()
    };
    if let Some(v) = usage_in(start) {
        usage.merge(&v);
    }
    if let Some(delta_at) = MESSAGE_DELTA.rfind(all) {
        if let Some(v) = data_line(all, delta_at).and_then(usage_in) {
            usage.merge(&v);
        }
    }
    Some(usage)
}

/// The last `usage` object in `json` (a message's own comes after its content).
fn usage_in(json: &[u8]) -> Option<UsageProbe> {
    usage_after(json, USAGE_KEY.rfind(json)?)
}

/// The `usage` object whose key starts at byte `at`.
fn usage_after(json: &[u8], at: usize) -> Option<UsageProbe> {
    value_at::<Option<UsageProbe>>(json, at + b"\"usage\":".len()).flatten()
}

/// The first `model` string in `json` (a message's own comes before its content).
fn model_in(json: &[u8]) -> Option<String> {
    let at = MODEL_KEY.find(json)?;
    value_at::<Option<Cow<str>>>(json, at + b"\"model\":".len())
        .flatten()
        .map(Cow::into_owned)
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
        // Unknown usage fields are skipped, nulls are absent counts, escaped strings decoded.
        let u = from_message(br#"{"type":"message","model":"claude-\u0078","content":[{"type":"text","text":"\"usage\":{}"}],"usage":{"input_tokens":2,"output_tokens":null,"server_tool_use":{"web_search_requests":1},"service_tier":"standard","cache_creation":null,"cache_creation_input_tokens":6}}"#).unwrap();
        assert_eq!(u.model.as_deref(), Some("claude-x"));
        assert_eq!(
            (u.input_tokens, u.output_tokens, u.cache_write_5m_tokens),
            (2, 0, 6)
        );
        // A tool's input may hold `usage` and `model` keys: the message's own are the ones read.
        let u = from_message(br#"{"id":"m","type":"message","model":"claude-a","content":[{"type":"tool_use","input":{"model":"x","usage":{"input_tokens":99}}}],"usage":{"input_tokens":3,"output_tokens":4}}"#).unwrap();
        assert_eq!(u.model.as_deref(), Some("claude-a"));
        assert_eq!((u.input_tokens, u.output_tokens), (3, 4));
        // No usage at all: still a message (zero tokens); not JSON: nothing.
        let u = from_message(br#"{"type":"message","model":"m","content":[]}"#).unwrap();
        assert_eq!((u.model.as_deref(), u.input_tokens), (Some("m"), 0));
        assert!(from_message(b"<html>").is_none());
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
