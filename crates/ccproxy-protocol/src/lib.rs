//! Wire formats of the APIs CCProxy speaks, and the pure rewrites it applies to them.
//!
//! Invariant: this crate does no IO, reads no clock and draws no random numbers. Everything it
//! needs (ids, timestamps) is passed in, so every function here is a deterministic function of
//! its input and is tested with plain data.

pub mod anthropic;
pub mod claude_cli;
pub mod error;
pub mod openai;
pub mod sse;
