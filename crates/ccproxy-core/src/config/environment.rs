//! [`Environment`]: the one place the configuration reads the process environment (beyond the
//! loader's own sources), once, when a `Config` is made.

use std::path::PathBuf;

/// What the configuration's defaults take from the process environment beyond its own keys:
/// the user's directories and `PATH`. Read once by [`Environment::read`] (a `Config`'s
/// default, which every load starts from); the only other environment readers are the config
/// loader's own sources.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Environment {
    /// `$HOME` (`%USERPROFILE%` on Windows).
    pub home: Option<PathBuf>,
    /// `$XDG_CONFIG_HOME/ccproxy` (default `~/.config/ccproxy`).
    pub config_dir: Option<PathBuf>,
    /// `$XDG_DATA_HOME/ccproxy` (default `~/.local/share/ccproxy`).
    pub data_dir: Option<PathBuf>,
    /// Claude Code's directory: `$CLAUDE_CONFIG_DIR`, default `~/.claude`.
    pub claude_dir: Option<PathBuf>,
    /// The Codex CLI's directory: `$CODEX_HOME`, default `~/.codex` (for client setup).
    pub codex_dir: Option<PathBuf>,
    /// The directories of `$PATH`, where the `claude` CLI is looked for.
    pub path: Vec<PathBuf>,
    /// `$USER`: the account of Claude Code's macOS Keychain item.
    pub user: Option<String>,
    /// The names of the variables an isolated CLI is given ([`passed_to_container`]).
    pub container_vars: Vec<String>,
}

/// Whether an isolated CLI gets the variable `name` (`docker run -e NAME`): Anthropic's and
/// Claude Code's own (`ANTHROPIC_*`, `CLAUDE_*`, `DISABLE_*`, `MCP_*`) and the proxy variables —
/// not CCProxy's configuration (`SECTION__KEY`, e.g. `CLAUDE__CLI_PATH`), not its secrets, and not
/// `CLAUDE_CONFIG_DIR` or `HOME` (paths of this machine: the container has its own).
pub fn passed_to_container(name: &str) -> bool {
    const PREFIXES: [&str; 4] = ["ANTHROPIC_", "CLAUDE_", "DISABLE_", "MCP_"];
    const PROXY: [&str; 4] = ["HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "ALL_PROXY"];
    let upper = name.to_ascii_uppercase();
    !name.contains("__")
        && name != "CLAUDE_CONFIG_DIR"
        && !crate::config::SECRET_ENV_VARS.contains(&name)
        && (PREFIXES.iter().any(|p| name.starts_with(p)) || PROXY.contains(&upper.as_str()))
}

impl Default for Environment {
    fn default() -> Self {
        Self::read()
    }
}

impl Environment {
    /// Reads the environment now.
    #[allow(clippy::disallowed_methods)] // the one place the configuration reads it
    pub fn read() -> Self {
        let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
        let home = var("HOME")
            .or_else(|| var("USERPROFILE"))
            .map(PathBuf::from);
        let under_home = |xdg: &str, default: &str| {
            var(xdg)
                .map(PathBuf::from)
                .or_else(|| home.as_ref().map(|h| h.join(default)))
                .map(|d| d.join("ccproxy"))
        };
        Self {
            config_dir: under_home("XDG_CONFIG_HOME", ".config"),
            data_dir: under_home("XDG_DATA_HOME", ".local/share"),
            claude_dir: var("CLAUDE_CONFIG_DIR")
                .map(PathBuf::from)
                .or_else(|| home.as_ref().map(|h| h.join(".claude"))),
            codex_dir: var("CODEX_HOME")
                .map(PathBuf::from)
                .or_else(|| home.as_ref().map(|h| h.join(".codex"))),
            path: var("PATH")
                .map(|p| std::env::split_paths(&p).collect())
                .unwrap_or_default(),
            user: var("USER").and_then(|u| u.into_string().ok()),
            container_vars: std::env::vars_os()
                .filter_map(|(name, _)| name.into_string().ok())
                .filter(|name| passed_to_container(name))
                .collect(),
            home,
        }
    }
}
