//! Settings the web UI may change: a short list of keys, written to the user's TOML file
//! (comments and other keys kept, via `toml_edit`), after which the host (`ccproxy serve`, the
//! desktop app) restarts the server with the reloaded configuration.
//!
//! A key set by a command-line flag or an environment variable wins over the file, so it is
//! shown as locked (with its source) and cannot be changed here. Every change is checked by
//! building and validating the whole new configuration before anything is written.

use crate::config::Config;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use tokio::sync::Notify;

/// The keys the UI may change, with what kind of value each takes.
pub const EDITABLE: [(&str, Kind); 17] = [
    ("server.host", Kind::Text),
    ("server.port", Kind::Int),
    ("security.auth_token", Kind::Secret),
    ("claude.permission_mode", Kind::Text),
    ("claude.allowed_tools", Kind::List),
    ("claude.disallowed_tools", Kind::List),
    ("claude.max_turns", Kind::Int),
    ("claude.pool_size", Kind::Int),
    ("claude.max_concurrent", Kind::Int),
    ("claude.max_queued", Kind::Int),
    ("claude.session_idle_secs", Kind::Int),
    ("claude.tool_result_timeout_secs", Kind::Int),
    ("claude.builtin_tools_with_client_tools", Kind::Bool),
    ("billing.extra_usage", Kind::Text),
    ("observability.request_log", Kind::Bool),
    ("observability.retention_days", Kind::Int),
    ("observability.metrics", Kind::Bool),
];

/// The type of an editable value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Text,
    Int,
    Bool,
    List,
    /// Never shown back (only whether it is set).
    Secret,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Text => "text",
            Kind::Int => "integer",
            Kind::Bool => "boolean",
            Kind::List => "list",
            Kind::Secret => "secret",
        }
    }
}

/// What the host told the server about where its configuration came from.
#[derive(Debug, Default)]
pub struct SettingsHost {
    /// The TOML file changes are written to; `None`: settings are read-only.
    pub file: Option<PathBuf>,
    /// Keys set by flags or the environment, with that source.
    pub locked: BTreeMap<String, String>,
    /// Woken when a change was written and the server should restart.
    pub restart: Notify,
}

/// A refused change.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("{0}")]
    Invalid(String),
    #[error("`{key}` is set by {by}, which wins over the settings file; change it there")]
    Locked { key: String, by: String },
    #[error(
        "settings cannot be saved: this server was started without a configuration file location"
    )]
    NoFile,
    #[error("cannot write {path}: {message}")]
    Write { path: PathBuf, message: String },
}

fn lookup<'a>(v: &'a Value, key: &str) -> &'a Value {
    key.split('.').fold(v, |v, k| &v[k])
}

/// The current values, for `GET /api/settings`.
pub fn describe(config: &Config, host: &SettingsHost) -> Value {
    let current = serde_json::to_value(config).unwrap_or(Value::Null);
    let mut values = Map::new();
    for (key, kind) in EDITABLE {
        let value = match kind {
            Kind::Secret => json!(config.security.auth_token.is_some()),
            _ => lookup(&current, key).clone(),
        };
        values.insert(
            key.to_string(),
            json!({
                "value": value,
                "kind": kind.name(),
                "locked_by": host.locked.get(key),
            }),
        );
    }
    json!({"file": host.file, "editable": host.file.is_some(), "values": values})
}

/// Checks `changes` (key → new value; `null` removes the key from the file) against the current
/// configuration and, when the result is valid, writes them to the settings file.
pub fn apply(
    config: &Config,
    host: &SettingsHost,
    changes: &Map<String, Value>,
) -> Result<(), SettingsError> {
    let file = host.file.as_deref().ok_or(SettingsError::NoFile)?;
    let mut next =
        serde_json::to_value(config).map_err(|e| SettingsError::Invalid(e.to_string()))?;
    // The secret is masked in the serialized form: carry the real one over.
    if let Some(token) = &config.security.auth_token {
        use secrecy::ExposeSecret;
        next["security"]["auth_token"] = json!(token.expose_secret());
    }
    let default = serde_json::to_value(Config::default()).unwrap_or(Value::Null);
    for (key, value) in changes {
        let Some((_, kind)) = EDITABLE.iter().find(|(k, _)| k == key) else {
            return Err(SettingsError::Invalid(format!(
                "`{key}` cannot be changed from the UI (editable: {})",
                EDITABLE.map(|(k, _)| k).join(", ")
            )));
        };
        if let Some(source) = host.locked.get(key) {
            return Err(SettingsError::Locked {
                key: key.clone(),
                by: source.clone(),
            });
        }
        let ok = match (kind, value) {
            (_, Value::Null) => true,
            (Kind::Text | Kind::Secret, Value::String(s)) => !s.is_empty(),
            (Kind::Int, Value::Number(n)) => n.is_u64(),
            (Kind::Bool, Value::Bool(_)) => true,
            (Kind::List, Value::Array(items)) => items.iter().all(Value::is_string),
            _ => false,
        };
        if !ok {
            return Err(SettingsError::Invalid(format!(
                "`{key}` must be a {} (or null to remove it)",
                kind.name()
            )));
        }
        let Some((section, name)) = key.split_once('.') else {
            return Err(SettingsError::Invalid(format!("`{key}` is not a setting")));
        };
        next[section][name] = if value.is_null() {
            lookup(&default, key).clone()
        } else {
            value.clone()
        };
    }
    let parsed: Config = serde_json::from_value(next)
        .map_err(|e| SettingsError::Invalid(format!("invalid settings: {e}")))?;
    parsed.validate().map_err(|problems| {
        SettingsError::Invalid(
            problems
                .iter()
                .map(|p| format!("{}: {}", p.key, p.problem))
                .collect::<Vec<_>>()
                .join("; "),
        )
    })?;
    write(file, changes)
}

/// Edits the TOML file in place (created if missing), keeping everything else in it.
fn write(path: &Path, changes: &Map<String, Value>) -> Result<(), SettingsError> {
    let fail = |message: String| SettingsError::Write {
        path: path.to_path_buf(),
        message,
    };
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(fail(e.to_string())),
    };
    let mut doc: toml_edit::DocumentMut = text
        .parse()
        .map_err(|e| fail(format!("it is not valid TOML: {e}")))?;
    for (key, value) in changes {
        // Every key was checked by `apply`: all are `section.name`.
        let Some((section, name)) = key.split_once('.') else {
            continue;
        };
        if value.is_null() {
            if let Some(t) = doc.get_mut(section).and_then(|s| s.as_table_like_mut()) {
                t.remove(name);
            }
            continue;
        }
        let item = match value {
            Value::String(s) => toml_edit::value(s.as_str()),
            Value::Bool(b) => toml_edit::value(*b),
            Value::Number(n) => toml_edit::value(n.as_i64().unwrap_or(0)),
            Value::Array(items) => {
                let mut array = toml_edit::Array::new();
                for i in items.iter().filter_map(Value::as_str) {
                    array.push(i);
                }
                toml_edit::value(array)
            }
            _ => continue,
        };
        if !doc.contains_table(section) {
            doc.insert(section, toml_edit::table());
        }
        doc[section][name] = item;
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| fail(e.to_string()))?;
    }
    // Whole-file replace; 0600 because it may hold the API token.
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(|e| fail(e.to_string()))?;
    use std::io::Write;
    tmp.write_all(doc.to_string().as_bytes())
        .map_err(|e| fail(e.to_string()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o600))
            .map_err(|e| fail(e.to_string()))?;
    }
    tmp.persist(path).map_err(|e| fail(e.to_string()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(dir: &Path) -> SettingsHost {
        SettingsHost {
            file: Some(dir.join("config.toml")),
            ..SettingsHost::default()
        }
    }

    #[test]
    fn writes_only_valid_changes_and_keeps_the_rest_of_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let h = host(dir.path());
        std::fs::write(
            h.file.as_ref().unwrap(),
            "# mine\n[server]\nlog_level = \"debug\" # keep\n",
        )
        .unwrap();
        let c = Config::default();
        let changes = |v: Value| v.as_object().unwrap().clone();
        apply(
            &c,
            &h,
            &changes(json!({"server.port": 9001, "claude.allowed_tools": ["Read"]})),
        )
        .unwrap();
        let text = std::fs::read_to_string(h.file.as_ref().unwrap()).unwrap();
        assert!(text.contains("# mine") && text.contains("log_level = \"debug\" # keep"));
        assert!(text.contains("port = 9001") && text.contains("allowed_tools = [\"Read\"]"));
        // Invalid: nothing written.
        let e = apply(
            &c,
            &h,
            &changes(json!({"claude.permission_mode": "bypassPermissions"})),
        )
        .unwrap_err();
        assert!(e.to_string().contains("allow_bypass_permissions"), "{e}");
        let e = apply(&c, &h, &changes(json!({"server.port": "x"}))).unwrap_err();
        assert!(e.to_string().contains("integer"), "{e}");
        let e = apply(&c, &h, &changes(json!({"oauth.token_url": "x"}))).unwrap_err();
        assert!(e.to_string().contains("cannot be changed"), "{e}");
        // null removes.
        apply(&c, &h, &changes(json!({"server.port": null}))).unwrap();
        let text = std::fs::read_to_string(h.file.as_ref().unwrap()).unwrap();
        assert!(!text.contains("port = 9001"), "{text}");
        let mut locked = host(dir.path());
        locked.locked.insert("server.port".into(), "--port".into());
        let e = apply(&c, &locked, &changes(json!({"server.port": 1}))).unwrap_err();
        assert!(e.to_string().contains("--port"), "{e}");
    }
}
