//! Finding the `claude` executable and checking its version.
//!
//! Order: `claude.cli_path`, then `PATH`, then where npm and Claude Code's own installer usually
//! put it. The version check runs `claude --version` once, in the background: it never delays
//! server start-up.

use crate::config::Environment;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The oldest CLI whose stream-json control protocol CCProxy speaks.
pub const MIN_VERSION: (u32, u32, u32) = (2, 0, 0);

/// A `claude` executable, and what `--version` said.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CliInfo {
    pub path: PathBuf,
    /// e.g. `2.1.331`; `None` when `--version` failed.
    pub version: Option<String>,
    /// Set when the CLI is missing, broken or too old: why `/sdk` cannot use it.
    pub problem: Option<String>,
    /// The image the CLI runs in (`claude.isolation = "docker"`; `path` is then `docker`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
}

/// Why no CLI can be run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LocateError {
    #[error("claude.cli_path is {0}, which does not exist")]
    ConfiguredMissing(PathBuf),
    #[error(
        "the `claude` CLI was not found on PATH or in the usual npm locations: install it with \
         `npm install -g @anthropic-ai/claude-code`, or set claude.cli_path"
    )]
    NotFound,
    /// Found, but broken or too old ([`CliInfo::problem`] says how).
    #[error("{0}")]
    Unusable(String),
    /// `claude.isolation = "docker"`, and Docker or the image is missing.
    #[error("{0}")]
    Docker(String),
}

/// The executable to run: the configured one, else the first found.
pub fn find(configured: Option<&Path>, env: &Environment) -> Result<PathBuf, LocateError> {
    if let Some(path) = configured {
        return if path.is_file() {
            Ok(path.to_path_buf())
        } else {
            Err(LocateError::ConfiguredMissing(path.to_path_buf()))
        };
    }
    let name = if cfg!(windows) {
        "claude.exe"
    } else {
        "claude"
    };
    let on_path = env.path.iter();
    let home = env.home.as_ref();
    let usual = home.iter().flat_map(|h| {
        [
            h.join(".claude/local/claude"),
            h.join(".local/bin/claude"),
            h.join(".npm-global/bin/claude"),
            h.join("node_modules/.bin/claude"),
            h.join(".yarn/bin/claude"),
        ]
    });
    on_path
        .into_iter()
        .map(|d| d.join(name))
        .chain(usual)
        .chain(["/usr/local/bin/claude", "/opt/homebrew/bin/claude"].map(PathBuf::from))
        .find(|p| p.is_file())
        .ok_or(LocateError::NotFound)
}

/// `command` without CCProxy's secrets in its environment ([`crate::config::SECRET_ENV_VARS`]).
pub fn without_secrets(mut command: tokio::process::Command) -> tokio::process::Command {
    for name in crate::config::SECRET_ENV_VARS {
        command.env_remove(name);
    }
    command
}

/// `2.1.331 (Claude Code)` → `(2, 1, 331)`.
pub fn parse_version(text: &str) -> Option<(u32, u32, u32)> {
    let word = text.split_whitespace().next()?;
    let mut parts = word.split('.').map(|p| {
        p.chars()
            .take_while(char::is_ascii_digit)
            .collect::<String>()
            .parse::<u32>()
            .ok()
    });
    Some((parts.next()??, parts.next()??, parts.next()??))
}

/// Finds the CLI and asks its version (up to 20 s: the first run of a fresh npm install is slow).
pub async fn probe(configured: Option<&Path>, env: &Environment) -> Result<CliInfo, LocateError> {
    let path = find(configured, env)?;
    let output = tokio::time::timeout(
        Duration::from_secs(20),
        without_secrets(tokio::process::Command::new(&path))
            .arg("--version")
            .stdin(std::process::Stdio::null())
            .kill_on_drop(true)
            .output(),
    )
    .await;
    let (version, problem) = judge_version(&path.display().to_string(), output);
    Ok(CliInfo {
        path,
        version,
        problem,
        image: None,
    })
}

/// What `<what> --version` said (run with a 20 s time-out): the version, and why the CLI
/// cannot be used (too old, broken, silent).
pub fn judge_version(
    what: &str,
    output: Result<std::io::Result<std::process::Output>, tokio::time::error::Elapsed>,
) -> (Option<String>, Option<String>) {
    match output {
        Ok(Ok(out)) if out.status.success() => {
            let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
            match parse_version(&text) {
                Some(v) if v >= MIN_VERSION => (Some(format!("{}.{}.{}", v.0, v.1, v.2)), None),
                Some(v) => (
                    Some(format!("{}.{}.{}", v.0, v.1, v.2)),
                    Some(format!(
                        "{} is version {}.{}.{}; Claude Code mode needs {}.{}.{} \
                         or newer: update it with `npm install -g @anthropic-ai/claude-code`",
                        what, v.0, v.1, v.2, MIN_VERSION.0, MIN_VERSION.1, MIN_VERSION.2
                    )),
                ),
                None => (
                    None,
                    Some(format!(
                        "`{} --version` printed `{text}`, which is not a version",
                        what
                    )),
                ),
            }
        }
        Ok(Ok(out)) => (
            None,
            Some(format!(
                "`{} --version` failed ({}): {}",
                what,
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            )),
        ),
        Ok(Err(e)) => (None, Some(format!("cannot run {}: {e}", what))),
        Err(_) => (
            None,
            Some(format!("`{} --version` did not answer within 20 s", what)),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions() {
        assert_eq!(parse_version("2.1.331 (Claude Code)"), Some((2, 1, 331)));
        assert_eq!(parse_version("1.0.0-beta"), Some((1, 0, 0)));
        assert_eq!(parse_version("claude"), None);
        assert!(parse_version("1.9.9").unwrap() < MIN_VERSION);
    }
}
