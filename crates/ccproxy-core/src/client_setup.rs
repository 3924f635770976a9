//! One-click client setup: points a client's own user configuration file at this server, and
//! takes it back out exactly.
//!
//! - **Claude Code**: `env.ANTHROPIC_BASE_URL` (and `env.ANTHROPIC_API_KEY`, the API token, when
//!   one is set) in `settings.json` under `$CLAUDE_CONFIG_DIR` (default `~/.claude`). Always the
//!   `/api` address: the `claude` CLI that answers `/sdk` reads this same file, so a `/sdk`
//!   address there would have every request start a CLI that calls the proxy again, without end.
//! - **Codex CLI**: `model_provider = "ccproxy"` and a `[model_providers.ccproxy]` entry
//!   (Responses API; `experimental_bearer_token` = the API token when one is set) in
//!   `config.toml` under `$CODEX_HOME` (default `~/.codex`).
//!
//! Only those keys are touched ([`json_text`], [`toml_text`] keep every other byte). Before the
//! first change the file's bytes, its mode and the values it had at those keys go to a record
//! in CCProxy's data folder (0600). Restoring puts the exact bytes back when the file is still
//! what CCProxy wrote; when the user has changed it since, it removes only CCProxy's values (the
//! earlier ones come back), leaves any of them the user changed, and says so.

pub mod json_text;
pub mod toml_text;

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// A client whose user configuration file CCProxy can set up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Client {
    ClaudeCode,
    Codex,
}

impl Client {
    pub const ALL: [Client; 2] = [Client::ClaudeCode, Client::Codex];

    /// `claude-code`, `codex`: the id in URLs and the record.
    pub fn id(self) -> &'static str {
        match self {
            Client::ClaudeCode => "claude-code",
            Client::Codex => "codex",
        }
    }

    pub fn from_id(id: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.id() == id)
    }

    /// What people call it.
    pub fn name(self) -> &'static str {
        match self {
            Client::ClaudeCode => "Claude Code",
            Client::Codex => "Codex CLI",
        }
    }

    /// Its user configuration file, from the environment CCProxy started in.
    pub fn file(self, env: &crate::config::Environment) -> Option<PathBuf> {
        match self {
            Client::ClaudeCode => env.claude_dir.as_ref().map(|d| d.join("settings.json")),
            Client::Codex => env.codex_dir.as_ref().map(|d| d.join("config.toml")),
        }
    }

    fn format(self) -> Format {
        match self {
            Client::ClaudeCode => Format::Json,
            Client::Codex => Format::Toml,
        }
    }

    /// The keys CCProxy writes and their values (as text of the file's format), for a server at
    /// `origin` (`http://127.0.0.1:8000`), in `mode` (`api` | `sdk`).
    fn entries(self, origin: &str, mode: Mode, token: Option<&str>) -> Vec<Entry> {
        let json = |s: &str| serde_json::Value::from(s).to_string();
        let toml = |s: &str| toml_edit::Value::from(s).to_string();
        let mut entries = Vec::new();
        match self {
            Client::ClaudeCode => {
                entries.push(Entry::new(
                    &["env", "ANTHROPIC_BASE_URL"],
                    json(&format!("{origin}/api")),
                ));
                if let Some(token) = token {
                    entries.push(Entry::secret(&["env", "ANTHROPIC_API_KEY"], json(token)));
                }
            }
            Client::Codex => {
                let base = format!("{origin}/{}/v1", mode.prefix());
                entries.push(Entry::new(&["model_provider"], toml("ccproxy")));
                let provider = |k: &str| vec!["model_providers".into(), "ccproxy".into(), k.into()];
                for (key, value) in [
                    ("name", "CCProxy"),
                    ("base_url", &base),
                    ("wire_api", "responses"),
                ] {
                    entries.push(Entry {
                        key: provider(key),
                        value: toml(value),
                        secret: false,
                    });
                }
                if let Some(token) = token {
                    entries.push(Entry {
                        key: provider("experimental_bearer_token"),
                        value: toml(token),
                        secret: true,
                    });
                }
            }
        }
        entries
    }

    /// The objects (tables) CCProxy's keys live in, innermost last: emptied by a restore, they
    /// are removed if CCProxy created them.
    fn parents(self) -> &'static [&'static [&'static str]] {
        match self {
            Client::ClaudeCode => &[&["env"]],
            Client::Codex => &[&["model_providers", "ccproxy"]],
        }
    }
}

/// Which of the server's two modes a client is pointed at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    #[default]
    Api,
    Sdk,
}

impl Mode {
    fn prefix(self) -> &'static str {
        match self {
            Mode::Api => "api",
            Mode::Sdk => "sdk",
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Format {
    Json,
    Toml,
}

impl Format {
    fn get(self, text: &str, key: &[&str]) -> Result<Option<String>, String> {
        match self {
            Format::Json => json_text::get(text, key).map_err(|e| e.to_string()),
            Format::Toml => toml_text::get(text, key).map_err(|e| e.to_string()),
        }
    }
    fn set(self, text: &str, key: &[&str], raw: &str) -> Result<String, String> {
        match self {
            Format::Json => json_text::set(text, key, raw).map_err(|e| e.to_string()),
            Format::Toml => toml_text::set(text, key, raw).map_err(|e| e.to_string()),
        }
    }
    fn remove(self, text: &str, key: &[&str]) -> Result<String, String> {
        match self {
            Format::Json => json_text::remove(text, key).map_err(|e| e.to_string()),
            Format::Toml => toml_text::remove(text, key).map_err(|e| e.to_string()),
        }
    }
    fn remove_if_empty(self, text: &str, key: &[&str]) -> Result<String, String> {
        match self {
            Format::Json if json_text::is_empty_object(text, key).map_err(|e| e.to_string())? => {
                self.remove(text, key)
            }
            Format::Json => Ok(text.to_string()),
            Format::Toml => toml_text::remove_if_empty(text, key).map_err(|e| e.to_string()),
        }
    }
    /// The text with `w`'s key as it was before CCProxy wrote it (its old value, or gone).
    fn put_back(self, text: &str, w: &Written) -> Result<String, String> {
        let path: Vec<&str> = w.key.iter().map(String::as_str).collect();
        match &w.before {
            Some(before) => self.set(text, &path, before),
            None => self.remove(text, &path),
        }
    }
    /// Whether the object (table) at `path` is in the text.
    fn exists(self, text: &str, path: &[&str]) -> bool {
        match self {
            Format::Json => json_text::get(text, path).is_ok_and(|v| v.is_some()),
            Format::Toml => text.parse::<toml_edit::DocumentMut>().is_ok_and(|doc| {
                path.iter()
                    .try_fold(doc.as_table(), |t, k| t.get(k)?.as_table())
                    .is_some()
            }),
        }
    }
    /// What a new file holds before anything is set.
    fn empty(self) -> &'static str {
        match self {
            Format::Json => "{}\n",
            Format::Toml => "",
        }
    }
}

/// A key CCProxy writes and its value.
#[derive(Debug, Clone)]
struct Entry {
    key: Vec<String>,
    value: String,
    /// Shown masked in previews (the API token; the user's own key it replaces).
    secret: bool,
}

impl Entry {
    fn new(key: &[&str], value: String) -> Self {
        Self {
            key: key.iter().map(|k| k.to_string()).collect(),
            value,
            secret: false,
        }
    }
    fn secret(key: &[&str], value: String) -> Self {
        Self {
            secret: true,
            ..Self::new(key, value)
        }
    }
    fn path(&self) -> Vec<&str> {
        self.key.iter().map(String::as_str).collect()
    }
}

/// What CCProxy keeps to undo a setup: one per client, in `client-setup.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Record {
    path: PathBuf,
    /// The file's bytes before CCProxy first wrote it (`None`: there was no file).
    original: Option<String>,
    /// Its Unix permission bits then.
    permissions: Option<u32>,
    /// The bytes CCProxy last wrote.
    written: String,
    /// Each key CCProxy wrote, with its value before and CCProxy's.
    keys: Vec<Written>,
    /// The objects/tables that were not there before CCProxy.
    created: Vec<Vec<String>>,
    /// The mode the client was pointed at.
    #[serde(default)]
    mode: Mode,
    /// The user changed the file between two of CCProxy's writes, so `original` is no longer
    /// what a restore may put back.
    #[serde(default)]
    diverged: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Written {
    key: Vec<String>,
    before: Option<String>,
    ours: String,
}

/// Why a setup could not be applied, previewed or restored.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("{0}'s configuration folder is unknown (HOME is not set)")]
    NoFile(&'static str),
    #[error("CCProxy's data folder is unknown (HOME is not set), so the change could not be undone; nothing was written")]
    NoRecord,
    #[error("Claude Code cannot be pointed at /sdk: the claude CLI that answers /sdk reads the same settings file, so each request would start a CLI that calls CCProxy again, without end; use /api")]
    PointsAtItself,
    #[error("{file} cannot be changed safely: {why}; fix or move it, then try again")]
    Unreadable { file: PathBuf, why: String },
    #[error("CCProxy's server is not running, so there is no address to write; start it first")]
    NoServer,
    #[error("CCProxy has not set up {0}, so there is nothing to restore")]
    NotApplied(&'static str),
    #[error("cannot write {path}: {message}")]
    Write { path: PathBuf, message: String },
}

/// A key's change, as shown before applying (secrets masked).
#[derive(Debug, Clone, Serialize)]
pub struct Change {
    pub key: String,
    pub before: Option<String>,
    pub after: String,
}

/// Where a client stands, and what applying would change.
#[derive(Debug, Clone, Serialize)]
pub struct Preview {
    pub client: Client,
    pub name: &'static str,
    pub file: PathBuf,
    /// The mode previewed: the one it was set up in, else API mode.
    pub mode: Mode,
    /// Whether CCProxy's setup is in the file now.
    pub applied: bool,
    /// The changes applying would make (empty when it is applied and current).
    pub changes: Vec<Change>,
}

/// What a restore did.
#[derive(Debug, Clone, Serialize)]
pub struct Restored {
    pub client: Client,
    pub file: PathBuf,
    /// The file is byte for byte what it was before CCProxy (or gone again, if it was not there).
    pub exact: bool,
    /// CCProxy's keys the user had changed since, left as they are.
    pub kept: Vec<String>,
    pub message: String,
}

/// Client setup for one server: where its record is, what it writes.
#[derive(Debug, Clone)]
pub struct Setup {
    env: crate::config::Environment,
    /// The address written into clients' files; `None` for [`Setup::offline`].
    origin: Option<String>,
    token: Option<String>,
}

const MASK: &str = "•••• (hidden)";

impl Setup {
    /// For a server reached at `origin` (`http://127.0.0.1:8000`) whose clients send `token`.
    pub fn new(env: crate::config::Environment, origin: String, token: Option<String>) -> Self {
        Self {
            env,
            origin: Some(origin),
            token,
        }
    }

    /// A setup with no server to point clients at (the app's server is stopped): it reads and
    /// restores what was set up, and refuses to apply or preview ([`SetupError::NoServer`]).
    pub fn offline(env: crate::config::Environment) -> Self {
        Self {
            env,
            origin: None,
            token: None,
        }
    }

    /// The setup for a running server: its loopback address and its API token.
    pub fn of_server(state: &crate::state::AppState) -> Self {
        use secrecy::ExposeSecret;
        let token = state
            .config
            .security
            .auth_token
            .as_ref()
            .map(|t| t.expose_secret().to_string());
        Self::new(
            state.config.env.clone(),
            crate::owner::ui_origin(state.addr),
            token,
        )
    }

    fn record_file(&self) -> Option<PathBuf> {
        self.env
            .data_dir
            .as_ref()
            .map(|d| d.join("client-setup.json"))
    }

    fn records(&self) -> BTreeMap<Client, Record> {
        self.record_file()
            .and_then(|f| std::fs::read(f).ok())
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .unwrap_or_default()
    }

    fn save_records(&self, records: &BTreeMap<Client, Record>) -> Result<(), SetupError> {
        let file = self.record_file().ok_or(SetupError::NoRecord)?;
        let bytes = serde_json::to_vec_pretty(records).map_err(|e| SetupError::Write {
            path: file.clone(),
            message: e.to_string(),
        })?;
        write_private(&file, &bytes, Some(0o600))
    }

    fn file(&self, client: Client) -> Result<PathBuf, SetupError> {
        client
            .file(&self.env)
            .ok_or(SetupError::NoFile(client.name()))
    }

    /// The file's text now (`None`: no file).
    fn read(&self, path: &Path) -> Result<Option<String>, SetupError> {
        match std::fs::read(path) {
            Ok(bytes) => String::from_utf8(bytes)
                .map(Some)
                .map_err(|_| SetupError::Unreadable {
                    file: path.to_path_buf(),
                    why: "it is not UTF-8 text".into(),
                }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(SetupError::Unreadable {
                file: path.to_path_buf(),
                why: e.to_string(),
            }),
        }
    }

    /// Where `client` stands and what [`Setup::apply`] would change.
    pub fn preview(&self, client: Client, mode: Mode) -> Result<Preview, SetupError> {
        let entries = self.entries(client, mode)?;
        let file = self.file(client)?;
        let current = self.read(&file)?;
        let text = current.as_deref().unwrap_or(client.format().empty());
        let unreadable = |why: String| SetupError::Unreadable {
            file: file.clone(),
            why,
        };
        let mut changes = Vec::new();
        for entry in &entries {
            let before = client
                .format()
                .get(text, &entry.path())
                .map_err(unreadable)?;
            if before.as_deref() == Some(&entry.value) {
                continue;
            }
            let shown = |v: &str| {
                if entry.secret {
                    MASK.into()
                } else {
                    v.to_string()
                }
            };
            changes.push(Change {
                key: entry.key.join("."),
                before: before.as_deref().map(shown),
                after: shown(&entry.value),
            });
        }
        let applied = self.records().contains_key(&client) && changes.is_empty();
        Ok(Preview {
            client,
            name: client.name(),
            file,
            mode,
            applied,
            changes,
        })
    }

    /// [`Setup::preview`] in the mode `client` was set up in (API mode if it is not).
    pub fn status(&self, client: Client) -> Result<Preview, SetupError> {
        let mode = self.records().get(&client).map_or(Mode::Api, |r| r.mode);
        self.preview(client, mode)
    }

    fn entries(&self, client: Client, mode: Mode) -> Result<Vec<Entry>, SetupError> {
        if client == Client::ClaudeCode && mode == Mode::Sdk {
            return Err(SetupError::PointsAtItself);
        }
        let origin = self.origin.as_deref().ok_or(SetupError::NoServer)?;
        Ok(client.entries(origin, mode, self.token.as_deref()))
    }

    /// Writes CCProxy's keys into `client`'s file (creating it if needed), keeping a record to
    /// undo it. Applying again updates the values and keeps the first record's original.
    pub fn apply(&self, client: Client, mode: Mode) -> Result<Preview, SetupError> {
        let entries = self.entries(client, mode)?;
        let file = self.file(client)?;
        self.record_file().ok_or(SetupError::NoRecord)?;
        let format = client.format();
        let current = self.read(&file)?;
        let unreadable = |why: String| SetupError::Unreadable {
            file: file.clone(),
            why,
        };
        let mut records = self.records();
        let mut record = records.remove(&client).unwrap_or_else(|| Record {
            path: file.clone(),
            original: current.clone(),
            permissions: mode_of(&file),
            written: String::new(),
            keys: Vec::new(),
            created: Vec::new(),
            diverged: false,
            mode,
        });
        let mut text = current
            .clone()
            .unwrap_or_else(|| format.empty().to_string());
        if !record.written.is_empty() && current.as_deref() != Some(record.written.as_str()) {
            // Changed by the user since CCProxy last wrote it: the original bytes would undo
            // their change too, so a restore must go key by key from now on.
            record.diverged = true;
        }
        for parent in client.parents() {
            let key: Vec<String> = parent.iter().map(|k| k.to_string()).collect();
            if !format.exists(&text, parent) && !record.created.contains(&key) {
                record.created.push(key);
            }
        }
        for entry in &entries {
            let before = format.get(&text, &entry.path()).map_err(unreadable)?;
            match record.keys.iter_mut().find(|w| w.key == entry.key) {
                Some(w) => w.ours = entry.value.clone(),
                None => record.keys.push(Written {
                    key: entry.key.clone(),
                    before,
                    ours: entry.value.clone(),
                }),
            }
            text = format
                .set(&text, &entry.path(), &entry.value)
                .map_err(unreadable)?;
        }
        // A key CCProxy wrote before but no longer writes (the API token was removed).
        let stale: Vec<Written> = record
            .keys
            .iter()
            .filter(|w| !entries.iter().any(|e| e.key == w.key))
            .cloned()
            .collect();
        for w in &stale {
            text = format.put_back(&text, w).map_err(unreadable)?;
        }
        record
            .keys
            .retain(|w| entries.iter().any(|e| e.key == w.key));
        record.written = text.clone();
        record.mode = mode;
        let secret = entries.iter().any(|e| e.secret);
        // Save the record first: a crash between the two leaves a record of a change not made
        // (restore then finds the original untouched), never a change without its record.
        records.insert(client, record);
        self.save_records(&records)?;
        let keep_mode = mode_of(&file);
        let new_mode = match (keep_mode, secret) {
            // It holds a secret now: nobody else may read it.
            (Some(m), true) => Some(m & 0o700),
            (Some(m), false) => Some(m),
            (None, _) => Some(0o600),
        };
        write_private(&file, text.as_bytes(), new_mode)?;
        tracing::info!(client = client.id(), file = %file.display(), "client set up to use CCProxy");
        self.preview(client, mode)
    }

    /// Takes CCProxy's setup back out of `client`'s file (see the module's documentation).
    pub fn restore(&self, client: Client) -> Result<Restored, SetupError> {
        let mut records = self.records();
        let record = records
            .get(&client)
            .cloned()
            .ok_or(SetupError::NotApplied(client.name()))?;
        let file = record.path.clone();
        let format = client.format();
        let current = self.read(&file)?;
        let unreadable = |why: String| SetupError::Unreadable {
            file: file.clone(),
            why,
        };
        let mut kept = Vec::new();
        let exact;
        let message;
        match current {
            Some(text) if text == record.written && !record.diverged => {
                exact = true;
                match &record.original {
                    Some(original) => {
                        write_private(&file, original.as_bytes(), record.permissions)?
                    }
                    None => std::fs::remove_file(&file).map_err(|e| SetupError::Write {
                        path: file.clone(),
                        message: e.to_string(),
                    })?,
                }
                message = format!(
                    "{} is back to exactly what it was before CCProxy",
                    file.display()
                );
            }
            None => {
                exact = record.original.is_none();
                message = format!(
                    "{} is gone (removed since CCProxy wrote it); nothing to restore",
                    file.display()
                );
            }
            Some(mut text) => {
                exact = false;
                for w in &record.keys {
                    let path: Vec<&str> = w.key.iter().map(String::as_str).collect();
                    let now = format.get(&text, &path).map_err(unreadable)?;
                    if now.as_deref() != Some(&w.ours) {
                        if now.is_some() {
                            kept.push(w.key.join("."));
                        }
                        continue;
                    }
                    text = format.put_back(&text, w).map_err(unreadable)?;
                }
                for parent in &record.created {
                    let path: Vec<&str> = parent.iter().map(String::as_str).collect();
                    text = format.remove_if_empty(&text, &path).map_err(unreadable)?;
                }
                write_private(&file, text.as_bytes(), mode_of(&file))?;
                message = if kept.is_empty() {
                    format!(
                        "{} was changed since CCProxy set it up: removed only CCProxy's values and kept the rest of your changes",
                        file.display()
                    )
                } else {
                    format!(
                        "{} was changed since CCProxy set it up: removed CCProxy's values but left {} as you changed them",
                        file.display(),
                        kept.join(", ")
                    )
                };
            }
        }
        records.remove(&client);
        self.save_records(&records)?;
        tracing::info!(client = client.id(), file = %file.display(), exact, "client setup restored");
        Ok(Restored {
            client,
            file,
            exact,
            kept,
            message,
        })
    }

    /// Restores every client CCProxy has set up (on quit, when the user chose so).
    pub fn restore_all(&self) -> Vec<Result<Restored, SetupError>> {
        self.records()
            .into_keys()
            .map(|client| self.restore(client))
            .collect()
    }

    /// Whether CCProxy's setup of `client` is recorded (whatever the file holds now).
    pub fn is_recorded(&self, client: Client) -> bool {
        self.records().contains_key(&client)
    }
}

/// Whether Claude Code's user settings hold the address CCProxy wrote there. The `claude` CLI
/// that answers `/sdk` must then not load them (`--setting-sources project,local`): it would go
/// through CCProxy's `/api` with CCProxy's token instead of straight to upstream with its own
/// login.
pub fn claude_code_points_at_ccproxy(env: &crate::config::Environment) -> bool {
    let record: Option<Record> = env
        .data_dir
        .as_ref()
        .and_then(|d| std::fs::read(d.join("client-setup.json")).ok())
        .and_then(|b| serde_json::from_slice::<BTreeMap<Client, Record>>(&b).ok())
        .and_then(|mut all| all.remove(&Client::ClaudeCode));
    let Some(record) = record else {
        return false;
    };
    let key = ["env", "ANTHROPIC_BASE_URL"];
    let ours = record.keys.iter().find(|w| w.key == key).map(|w| &w.ours);
    let now = std::fs::read_to_string(&record.path)
        .ok()
        .and_then(|text| json_text::get(&text, &key).ok().flatten());
    ours.is_some() && now.as_ref() == ours
}

#[cfg(unix)]
fn mode_of(path: &Path) -> Option<u32> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .ok()
        .map(|m| m.permissions().mode() & 0o7777)
}

#[cfg(not(unix))]
fn mode_of(_path: &Path) -> Option<u32> {
    None
}

/// Writes `bytes` to `path` at once (a temporary file in the same folder, renamed over it),
/// with `mode` where modes exist. The folder is made (0700) if missing.
fn write_private(path: &Path, bytes: &[u8], mode: Option<u32>) -> Result<(), SetupError> {
    use std::io::Write;
    let fail = |e: std::io::Error| SetupError::Write {
        path: path.to_path_buf(),
        message: e.to_string(),
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    if !dir.exists() {
        crate::private::create_dir(dir).map_err(fail)?;
    }
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(fail)?;
    tmp.write_all(bytes).map_err(fail)?;
    #[cfg(unix)]
    if let Some(mode) = mode {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(mode))
            .map_err(fail)?;
    }
    #[cfg(not(unix))]
    let _ = mode;
    tmp.persist(path).map_err(|e| fail(e.error))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Environment;

    fn setup(home: &Path, token: Option<&str>) -> Setup {
        let env = Environment {
            home: Some(home.to_path_buf()),
            config_dir: Some(home.join("config")),
            data_dir: Some(home.join("data")),
            claude_dir: Some(home.join(".claude")),
            codex_dir: Some(home.join(".codex")),
            path: Vec::new(),
            user: None,
            container_vars: Vec::new(),
        };
        Setup::new(env, "http://127.0.0.1:8000".into(), token.map(String::from))
    }

    fn write(path: &Path, text: &str) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    const SETTINGS: &str = "{\n  \"model\": \"opus\",\n  \"env\": {\n    \"ANTHROPIC_API_KEY\": \"sk-mine\",\n    \"FOO\": \"1\"\n  },\n  \"permissions\": {\"allow\": [\"Bash(ls)\"]}\n}";

    #[test]
    fn claude_code_round_trip_leaves_the_file_byte_identical() {
        let home = tempfile::tempdir().unwrap();
        let file = home.path().join(".claude/settings.json");
        write(&file, SETTINGS);
        #[cfg(unix)]
        std::fs::set_permissions(&file, std::os::unix::fs::PermissionsExt::from_mode(0o644))
            .unwrap();
        let s = setup(home.path(), Some("tok-123"));

        let preview = s.preview(Client::ClaudeCode, Mode::Api).unwrap();
        assert!(!preview.applied);
        let keys: Vec<_> = preview.changes.iter().map(|c| c.key.as_str()).collect();
        assert_eq!(keys, ["env.ANTHROPIC_BASE_URL", "env.ANTHROPIC_API_KEY"]);
        assert_eq!(preview.changes[1].before.as_deref(), Some(MASK));
        assert_eq!(preview.changes[1].after, MASK);

        let applied = s.apply(Client::ClaudeCode, Mode::Api).unwrap();
        assert!(applied.applied && applied.changes.is_empty());
        let text = std::fs::read_to_string(&file).unwrap();
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["env"]["ANTHROPIC_BASE_URL"], "http://127.0.0.1:8000/api");
        assert_eq!(v["env"]["ANTHROPIC_API_KEY"], "tok-123");
        assert_eq!(v["env"]["FOO"], "1");
        assert_eq!(v["permissions"]["allow"][0], "Bash(ls)");
        #[cfg(unix)]
        assert_eq!(mode_of(&file), Some(0o600), "it holds the token now");
        #[cfg(unix)]
        assert_eq!(
            mode_of(&home.path().join("data/client-setup.json")),
            Some(0o600)
        );

        assert!(claude_code_points_at_ccproxy(&s.env));
        let restored = s.restore(Client::ClaudeCode).unwrap();
        assert!(!claude_code_points_at_ccproxy(&s.env));
        assert!(restored.exact && restored.kept.is_empty(), "{restored:?}");
        assert_eq!(std::fs::read_to_string(&file).unwrap(), SETTINGS);
        #[cfg(unix)]
        assert_eq!(mode_of(&file), Some(0o644));
        assert!(matches!(
            s.restore(Client::ClaudeCode),
            Err(SetupError::NotApplied(_))
        ));
    }

    #[test]
    fn a_file_that_was_not_there_is_created_and_removed_again() {
        let home = tempfile::tempdir().unwrap();
        let s = setup(home.path(), None);
        s.apply(Client::ClaudeCode, Mode::Api).unwrap();
        let file = home.path().join(".claude/settings.json");
        assert_eq!(
            std::fs::read_to_string(&file).unwrap(),
            "{\n  \"env\": {\n    \"ANTHROPIC_BASE_URL\": \"http://127.0.0.1:8000/api\"\n  }\n}\n"
        );
        let restored = s.restore(Client::ClaudeCode).unwrap();
        assert!(restored.exact);
        assert!(!file.exists());
    }

    #[test]
    fn offline_it_restores_what_a_server_set_up_and_refuses_to_apply() {
        let home = tempfile::tempdir().unwrap();
        let file = home.path().join(".codex/config.toml");
        write(&file, "model = \"o3\"\n");
        let online = setup(home.path(), Some("tok-1"));
        online.apply(Client::Codex, Mode::Sdk).unwrap();
        let offline = Setup::offline(online.env.clone());
        assert!(offline.is_recorded(Client::Codex));
        assert!(matches!(
            offline.apply(Client::ClaudeCode, Mode::Api),
            Err(SetupError::NoServer)
        ));
        assert!(!home.path().join(".claude/settings.json").exists());
        let restored = offline.restore_all();
        assert_eq!(restored.len(), 1);
        assert!(restored[0].as_ref().unwrap().exact);
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "model = \"o3\"\n");
        assert!(!offline.is_recorded(Client::Codex));
    }

    #[test]
    fn a_restore_after_the_user_changed_the_file_removes_only_what_ccproxy_wrote() {
        let home = tempfile::tempdir().unwrap();
        let file = home.path().join(".claude/settings.json");
        write(&file, SETTINGS);
        let s = setup(home.path(), Some("tok-123"));
        s.apply(Client::ClaudeCode, Mode::Api).unwrap();
        // The user adds a key of their own and edits another.
        let edited = std::fs::read_to_string(&file).unwrap().replace(
            "\"model\": \"opus\"",
            "\"model\": \"sonnet\",\n  \"theme\": \"dark\"",
        );
        std::fs::write(&file, &edited).unwrap();

        let restored = s.restore(Client::ClaudeCode).unwrap();
        assert!(!restored.exact && restored.kept.is_empty(), "{restored:?}");
        assert!(restored.message.contains("removed only CCProxy's values"));
        let expected = SETTINGS.replace(
            "\"model\": \"opus\"",
            "\"model\": \"sonnet\",\n  \"theme\": \"dark\"",
        );
        assert_eq!(std::fs::read_to_string(&file).unwrap(), expected);
    }

    #[test]
    fn a_value_the_user_changed_is_left_and_named() {
        let home = tempfile::tempdir().unwrap();
        let s = setup(home.path(), None);
        s.apply(Client::ClaudeCode, Mode::Api).unwrap();
        let file = home.path().join(".claude/settings.json");
        let edited = std::fs::read_to_string(&file)
            .unwrap()
            .replace("127.0.0.1:8000", "127.0.0.1:9000");
        std::fs::write(&file, &edited).unwrap();
        let restored = s.restore(Client::ClaudeCode).unwrap();
        assert_eq!(restored.kept, ["env.ANTHROPIC_BASE_URL"]);
        assert!(restored
            .message
            .contains("left env.ANTHROPIC_BASE_URL as you changed"));
        assert_eq!(std::fs::read_to_string(&file).unwrap(), edited);
    }

    #[test]
    fn a_second_apply_after_a_user_edit_never_restores_over_that_edit() {
        let home = tempfile::tempdir().unwrap();
        let file = home.path().join(".claude/settings.json");
        write(&file, SETTINGS);
        s_apply_edit_apply_restore(&file, home.path());
    }

    fn s_apply_edit_apply_restore(file: &Path, home: &Path) {
        setup(home, None)
            .apply(Client::ClaudeCode, Mode::Api)
            .unwrap();
        let edited = std::fs::read_to_string(file)
            .unwrap()
            .replace("\"FOO\": \"1\"", "\"FOO\": \"2\"");
        std::fs::write(file, &edited).unwrap();
        // The API token was set since: applying again adds the key.
        setup(home, Some("tok"))
            .apply(Client::ClaudeCode, Mode::Api)
            .unwrap();
        let restored = setup(home, Some("tok"))
            .restore(Client::ClaudeCode)
            .unwrap();
        assert!(!restored.exact);
        assert_eq!(
            std::fs::read_to_string(file).unwrap(),
            SETTINGS.replace("\"FOO\": \"1\"", "\"FOO\": \"2\"")
        );
    }

    #[test]
    fn claude_code_is_never_pointed_at_sdk() {
        let home = tempfile::tempdir().unwrap();
        let s = setup(home.path(), None);
        assert!(matches!(
            s.apply(Client::ClaudeCode, Mode::Sdk),
            Err(SetupError::PointsAtItself)
        ));
        assert!(!home.path().join(".claude/settings.json").exists());
    }

    #[test]
    fn a_broken_file_is_refused_untouched() {
        let home = tempfile::tempdir().unwrap();
        let file = home.path().join(".claude/settings.json");
        write(&file, "{\"env\": [1, 2]}");
        let e = setup(home.path(), None)
            .apply(Client::ClaudeCode, Mode::Api)
            .unwrap_err();
        assert!(
            e.to_string().contains("`env` in it is not a JSON object"),
            "{e}"
        );
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "{\"env\": [1, 2]}");
        assert!(!setup(home.path(), None).is_recorded(Client::ClaudeCode));
    }

    const CODEX: &str =
        "# mine\nmodel = \"o3\"\n\n[mcp_servers.docs]\ncommand = \"docs-mcp\" # local\n";

    #[test]
    fn codex_round_trip_leaves_the_file_byte_identical_and_key_by_key_keeps_user_edits() {
        let home = tempfile::tempdir().unwrap();
        let file = home.path().join(".codex/config.toml");
        write(&file, CODEX);
        let s = setup(home.path(), Some("tok-9"));
        s.apply(Client::Codex, Mode::Sdk).unwrap();
        let text = std::fs::read_to_string(&file).unwrap();
        let doc: toml_edit::DocumentMut = text.parse().unwrap();
        assert_eq!(doc["model_provider"].as_str(), Some("ccproxy"));
        let p = &doc["model_providers"]["ccproxy"];
        assert_eq!(p["base_url"].as_str(), Some("http://127.0.0.1:8000/sdk/v1"));
        assert_eq!(p["wire_api"].as_str(), Some("responses"));
        assert_eq!(p["experimental_bearer_token"].as_str(), Some("tok-9"));
        assert!(text.contains("command = \"docs-mcp\" # local"));
        s.restore(Client::Codex).unwrap();
        assert_eq!(std::fs::read_to_string(&file).unwrap(), CODEX);

        s.apply(Client::Codex, Mode::Api).unwrap();
        let edited =
            std::fs::read_to_string(&file).unwrap() + "\n[profiles.fast]\nmodel = \"o4-mini\"\n";
        std::fs::write(&file, &edited).unwrap();
        let restored = s.restore(Client::Codex).unwrap();
        assert!(!restored.exact);
        let back = std::fs::read_to_string(&file).unwrap();
        assert!(!back.contains("ccproxy"), "{back}");
        assert!(back.starts_with("# mine\nmodel = \"o3\"\n"), "{back}");
        assert!(
            back.contains("[profiles.fast]\nmodel = \"o4-mini\"\n"),
            "{back}"
        );
        assert!(back.contains("command = \"docs-mcp\" # local"), "{back}");
    }
}
