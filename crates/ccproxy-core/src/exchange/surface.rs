//! [`Surface`]: the API a client speaks. It owns everything that differs between them: its name
//! in records and metrics, its error shape, how its request becomes an Anthropic request, how an
//! Anthropic answer is rendered back (see `exchange::render`), and what marks the first token
//! of its streams.

use crate::error::{ApiError, ErrorShape};
use ccproxy_protocol::error::ErrorKind;
use ccproxy_protocol::openai::chat_request::{self, Options};
use ccproxy_protocol::openai::responses::{self, Echo};
use ccproxy_protocol::openai::ResponseContext;
use memchr::memmem::Finder;
use rand::Rng;
use serde_json::Value;
use std::sync::LazyLock;

/// The API a client speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Surface {
    /// Anthropic Messages (`/v1/messages`, `/v1/messages/count_tokens`).
    Messages,
    /// OpenAI Chat Completions (`/chat/completions`).
    Chat,
    /// OpenAI Responses (`/responses`).
    Responses,
}

/// A request as the backend needs it: the Anthropic request, and what rendering the answer in
/// the client's surface needs to know.
pub struct Parsed {
    /// The Anthropic Messages request.
    pub anthropic: Value,
    /// The model the client asked for, reported back as is.
    pub model: Option<String>,
    pub stream: bool,
    /// Request fields ignored by the translation (`x-ccproxy-ignored-params`).
    pub ignored: Vec<String>,
    /// The OpenAI surfaces' response id, timestamp, model and structured-output tool.
    pub ctx: Option<ResponseContext>,
    /// The Responses request fields echoed in every Response object.
    pub echo: Option<Echo>,
    /// An OpenAI request field that would set what the CLI may do (`cwd`, `mcp_servers`, …):
    /// the translation would drop it, Claude Code mode refuses it. (The Anthropic surface's
    /// requests are checked by the CLI request parser itself.)
    pub server_setting: Option<String>,
    /// Where a Responses answer is kept once it completes (`response_store`).
    pub save: Option<crate::response_store::Save>,
}

/// A request body as JSON; not JSON is a 400.
pub fn json(body: &[u8]) -> Result<Value, Refusal> {
    serde_json::from_slice(body).map_err(|e| {
        Refusal::Api(ApiError::new(
            ErrorKind::InvalidRequest,
            format!("the request body is not valid JSON: {e}"),
        ))
    })
}

impl Surface {
    /// Its name in the request log, the access line and the metrics' `surface` label.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Messages => "anthropic",
            Self::Chat => "openai-chat",
            Self::Responses => "openai-responses",
        }
    }

    /// The shape its errors are answered in.
    pub const fn error_shape(self) -> ErrorShape {
        match self {
            Self::Messages => ErrorShape::Anthropic,
            Self::Chat | Self::Responses => ErrorShape::OpenAi,
        }
    }

    /// Parses and translates a request body (JSON) into an Anthropic request. Translation
    /// errors come in the surface's own shape, naming the field.
    pub fn parse(self, body: &[u8], options: &Options<'_>) -> Result<Parsed, Refusal> {
        self.parse_value(json(body)?, options)
    }

    /// [`Surface::parse`] of a body already decoded.
    pub fn parse_value(self, req: Value, options: &Options<'_>) -> Result<Parsed, Refusal> {
        if self == Self::Messages {
            return Ok(Parsed {
                model: req["model"].as_str().map(String::from),
                stream: req["stream"].as_bool().unwrap_or(false),
                anthropic: req,
                ignored: Vec::new(),
                ctx: None,
                echo: None,
                server_setting: None,
                save: None,
            });
        }
        let server_setting = req
            .as_object()
            .and_then(|o| {
                o.keys()
                    .find(|k| ccproxy_protocol::claude_cli::SERVER_SETTINGS.contains(&k.as_str()))
            })
            .cloned();
        let translated = match self {
            Self::Responses => responses::translate(&req, options),
            _ => chat_request::translate(&req, options),
        }
        .map_err(|e| Refusal::Field(e.body()))?;
        let ctx = ResponseContext {
            id: new_id(if self == Self::Chat {
                "chatcmpl-"
            } else {
                "resp_"
            }),
            created: crate::clock::unix_ms() / 1000,
            model: translated.requested_model.clone(),
            include_usage: translated.include_usage,
            structured_tool: translated.structured_tool.clone(),
            namespaced: translated.namespaced.clone(),
            now: || crate::clock::unix_ms() / 1000,
        };
        Ok(Parsed {
            anthropic: translated.body,
            model: Some(translated.requested_model),
            stream: translated.stream,
            ignored: translated.ignored,
            ctx: Some(ctx),
            echo: (self == Self::Responses).then(|| Echo::of(&req)),
            server_setting,
            save: None,
        })
    }

    /// What marks the first generated token in a chunk of this surface's streams.
    pub fn token_markers(self) -> &'static [TokenMarker] {
        let m = &*TOKEN_MARKERS;
        match self {
            Self::Messages => &m.messages,
            Self::Chat => &m.chat,
            Self::Responses => &m.responses,
        }
    }
}

/// A request the surface refuses before any backend is asked.
pub enum Refusal {
    /// An error of the proxy's own, rendered in the surface's shape.
    Api(ApiError),
    /// A field the translation cannot honour: a 400 body naming it (OpenAI's `param`).
    Field(Value),
}

/// A new id: `prefix` and 24 random alphanumerics.
fn new_id(prefix: &str) -> String {
    let mut rng = rand::thread_rng();
    let suffix: String = (0..24)
        .map(|_| rng.sample(rand::distributions::Alphanumeric) as char)
        .collect();
    format!("{prefix}{suffix}")
}

/// A marker of the first generated token in a stream chunk: a byte pattern, which (for the
/// patterns ending in a string's opening quote) must be followed by a non-empty string — the chat
/// stream opens with `{"content":"","role":"assistant"}`, which is not a token.
pub struct TokenMarker {
    pattern: Finder<'static>,
    opens_string: bool,
}

impl TokenMarker {
    fn new(pattern: &'static [u8]) -> Self {
        Self {
            opens_string: pattern.ends_with(b":\""),
            pattern: Finder::new(pattern),
        }
    }

    /// Whether `chunk` holds a token.
    pub fn is_in(&self, chunk: &[u8]) -> bool {
        if !self.opens_string {
            return self.pattern.find(chunk).is_some();
        }
        let len = self.pattern.needle().len();
        self.pattern
            .find_iter(chunk)
            .any(|at| chunk.get(at + len).is_some_and(|&b| b != b'"'))
    }

    /// Every surface's markers, for a stream whose surface is not known.
    pub fn any() -> &'static [TokenMarker] {
        &TOKEN_MARKERS.any
    }
}

/// The markers by surface, as searchers built once (building a searcher costs more than one
/// search of a chunk).
struct TokenMarkers {
    messages: [TokenMarker; 1],
    chat: [TokenMarker; 3],
    responses: [TokenMarker; 1],
    any: [TokenMarker; 5],
}

static TOKEN_MARKERS: LazyLock<TokenMarkers> = LazyLock::new(|| {
    let messages = b"content_block_delta".as_slice();
    let chat = [
        b"\"content\":\"".as_slice(),
        b"\"reasoning_content\":\"",
        b"\"tool_calls\":[{\"index\"",
    ];
    let responses = b".delta\"".as_slice();
    TokenMarkers {
        messages: [TokenMarker::new(messages)],
        chat: chat.map(TokenMarker::new),
        responses: [TokenMarker::new(responses)],
        any: [messages, chat[0], chat[1], chat[2], responses].map(TokenMarker::new),
    }
});

#[cfg(test)]
mod tests {
    use super::*;

    fn first_token(surface: Surface, chunk: &str) -> bool {
        surface
            .token_markers()
            .iter()
            .any(|m| m.is_in(chunk.as_bytes()))
    }

    #[test]
    fn opening_chunks_are_not_tokens() {
        let chat = Surface::Chat;
        let role = r#"data: {"choices":[{"delta":{"content":"","role":"assistant"},"index":0}]}"#;
        assert!(!first_token(chat, role));
        assert!(first_token(
            chat,
            r#"data: {"choices":[{"delta":{"content":"Hi"}}]}"#
        ));
        assert!(first_token(
            chat,
            r#"data: {"choices":[{"delta":{"content":"\"q"}}]}"#
        ));
        // An empty string, then a token, in one chunk.
        assert!(first_token(
            chat,
            &format!("{role}\n\n{}", r#"{"content":"x"}"#)
        ));
        assert!(first_token(chat, r#"{"delta":{"reasoning_content":"hm"}}"#));
        assert!(first_token(
            chat,
            r#"{"delta":{"tool_calls":[{"index":0,"id":"t"}]}}"#
        ));
        let created = r#"event: response.created
data: {"type":"response.created"}"#;
        assert!(!first_token(Surface::Responses, created));
        assert!(first_token(
            Surface::Responses,
            r#"data: {"type":"response.output_text.delta","delta":"x"}"#
        ));
        let start = "event: message_start\ndata: {\"type\":\"message_start\"}";
        assert!(!first_token(Surface::Messages, start));
        assert!(first_token(
            Surface::Messages,
            "event: content_block_delta\ndata: {}"
        ));
    }

    #[test]
    fn names_are_the_recorded_ones() {
        assert_eq!(Surface::Messages.name(), "anthropic");
        assert_eq!(Surface::Chat.name(), "openai-chat");
        assert_eq!(Surface::Responses.name(), "openai-responses");
    }
}
