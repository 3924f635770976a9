//! Upstream's Claude Code version floor: for some models the API answers 400 with
//! `error.details.error_code = "claude_code_version_too_old"` and the message
//! `Claude Code X does not support this model; version Y or newer is required` — it reads the
//! Claude Code version of the request (the client's in API mode, the `claude` CLI's in Claude
//! Code mode). This module recognises that answer, says plainly what to update, and keeps the
//! last version asked for (`/api/status`, `/sdk/status`, the tray).

use serde::Serialize;
use std::sync::Mutex;

/// `error.details.error_code` of the answer.
pub const ERROR_CODE: &str = "claude_code_version_too_old";

/// One "version too old" answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VersionFloor {
    /// The version upstream saw, if its message named it.
    pub have: Option<String>,
    /// The version upstream requires, if its message named it.
    pub need: Option<String>,
}

/// Which side's Claude Code is too old.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// API mode: the client program's.
    Client,
    /// Claude Code mode: the `claude` CLI CCProxy runs.
    Cli,
}

impl VersionFloor {
    /// The floor in an upstream error (its JSON body, or the CLI's text of it), if it is one.
    pub fn find(text: &str) -> Option<Self> {
        if !text.contains(ERROR_CODE) && !text.contains("or newer is required") {
            return None;
        }
        let word_after = |marker: &str| {
            text.split_once(marker).and_then(|(_, rest)| {
                rest.split_whitespace()
                    .next()
                    .map(|w| w.trim_matches(|c: char| !c.is_ascii_alphanumeric() && c != '.'))
                    .filter(|w| w.chars().next().is_some_and(|c| c.is_ascii_digit()))
                    .map(str::to_string)
            })
        };
        Some(Self {
            have: word_after("Claude Code "),
            need: word_after("; version "),
        })
    }

    /// The message the client gets: what is too old, what is needed, what to do.
    pub fn explain(&self, side: Side) -> String {
        let need = self
            .need
            .as_deref()
            .map(|v| format!("Claude Code {v} or newer"))
            .unwrap_or_else(|| "a newer Claude Code".into());
        let have = self
            .have
            .as_deref()
            .map(|v| format!(" (it saw {v})"))
            .unwrap_or_default();
        match side {
            Side::Client => format!(
                "upstream requires {need} for this model{have}: update the client program \
                 that sent this request (upstream reads its Claude Code version), or use an \
                 older model"
            ),
            Side::Cli => format!(
                "upstream requires {need} for this model{have}: update the claude CLI \
                 (`npm install -g @anthropic-ai/claude-code@latest`), or use an older model"
            ),
        }
    }
}

/// The last floor seen, per side.
#[derive(Default)]
pub struct LatestFloor(Mutex<[Option<VersionFloor>; 2]>);

impl LatestFloor {
    pub fn note(&self, side: Side, floor: VersionFloor) {
        self.0.lock().unwrap_or_else(|e| e.into_inner())[side as usize] = Some(floor);
    }

    pub fn get(&self, side: Side) -> Option<VersionFloor> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())[side as usize].clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_answer_is_recognised_and_explained() {
        let body = r#"{"type":"error","error":{"type":"invalid_request_error","message":"Claude Code 2.1.0 does not support this model; version 2.3.1 or newer is required","details":{"error_code":"claude_code_version_too_old"}}}"#;
        let f = VersionFloor::find(body).unwrap();
        assert_eq!(f.have.as_deref(), Some("2.1.0"));
        assert_eq!(f.need.as_deref(), Some("2.3.1"));
        let text = f.explain(Side::Cli);
        assert!(text.contains("Claude Code 2.3.1 or newer"), "{text}");
        assert!(
            text.contains("npm install -g @anthropic-ai/claude-code@latest"),
            "{text}"
        );
        assert!(f
            .explain(Side::Client)
            .contains("update the client program"));
        assert_eq!(VersionFloor::find("Overloaded"), None);
        let bare = VersionFloor::find(ERROR_CODE).unwrap();
        assert!(bare.explain(Side::Cli).contains("a newer Claude Code"));
    }
}
