//! Claude Code mode's two pure translations: an Anthropic Messages request → what the `claude`
//! CLI is given ([`CliRequest`]), and the CLI's stream-json output for one turn → the events of
//! one Anthropic message ([`Turn`]).
//!
//! ## The request
//!
//! What the CLI may do (working directory, its own tools, permissions, MCP servers, turn limit) is
//! server configuration: any request field that would set it is refused ([`SERVER_SETTINGS`]).
//! The client's own `tools` are offered to the CLI as an in-process MCP server ([`tools`]): a
//! call of one ends the client's response with `tool_use`, and the client's `tool_result`
//! answers the CLI's waiting call. `system`
//! becomes `--system-prompt`, `model` is switched per turn. A conversation of one user message is
//! sent as it is; a longer one is sent as one user message that carries the earlier messages in a
//! `<conversation>` transcript (images stay image blocks, in place), followed by the last
//! message — unless a session already holds the earlier messages (see [`history_keys`]).
//!
//! ## The response
//!
//! One turn of the CLI can call the API several times (the model asks for a tool, the CLI runs
//! it, the model goes on). The client sees one message: the first `message_start`, every content
//! block re-indexed in order, and one closing `message_delta` whose `usage` is the turn's total
//! (from the `result` line). The CLI's own tool calls are not client tools, so they are shown as
//! text the client can read, never as `tool_use` blocks it would try to run (the client's own
//! tools are the exception: their calls are `tool_use` blocks, and end the message):
//!
//! ```text
//! ⏺ Bash({"command":"echo hi"})
//!   ⎿ hi
//! ```
//!
//! System lines (`system/init` with tools, cwd and session ids), rate-limit events and sub-agent
//! traffic are never shown. Token streams come from `stream_event` lines; an `assistant` line
//! whose message was not streamed (the CLI fell back to a non-streaming call) is shown whole.

mod request;
pub mod tools;
mod turn;

pub use request::{
    assistant_key, history_keys, parse_request, user_content, user_line, CliRequest, RequestError,
    SERVER_SETTINGS, TOOL_RESULT_SHOWN,
};
pub use turn::{Events, Turn, TurnError};

/// Kept here for the callers that fold a turn's events; it lives in [`crate::anthropic::message`].
pub use crate::anthropic::message::Accumulator;
