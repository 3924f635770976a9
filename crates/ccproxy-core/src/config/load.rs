//! Where configuration values come from, in this precedence (highest first):
//! command-line flags > environment > `.env` file > TOML file > defaults.
//!
//! Nested environment variables use `__` (`SERVER__PORT`); the short forms `PORT`, `HOST`,
//! `AUTH_TOKEN` and `LOG_LEVEL` and Claude Code's `CLAUDE_CODE_OAUTH_TOKEN` are also read. The TOML
//! file is `--config FILE`, else the first of `./.ccproxy.toml`, `./ccproxy.toml`,
//! `$XDG_CONFIG_HOME/ccproxy/config.toml`. Every value remembers its source, so errors and
//! `ccproxy config show` can name it.

use super::{Config, Invalid};
use figment::providers::{Env, Format, Serialized, Toml};
use figment::value::{Dict, Map, Value};
use figment::{Figment, Metadata, Profile, Provider};
use std::fmt;
use std::path::{Path, PathBuf};

/// Top-level sections; an environment variable `SECTION__KEY` is read only for these.
const SECTIONS: [&str; 8] = [
    "server",
    "security",
    "claude",
    "auth",
    "oauth",
    "openai",
    "observability",
    "billing",
];

/// Short environment names (and `.env` names) and the key each sets.
const SHORT_NAMES: [(&str, &str); 5] = [
    ("port", "server.port"),
    ("host", "server.host"),
    ("auth_token", "security.auth_token"),
    ("log_level", "server.log_level"),
    ("claude_code_oauth_token", "auth.oauth_token"),
];

/// What to load configuration from, beyond the process environment.
#[derive(Debug, Clone, Default)]
pub struct ConfigSources {
    /// `--config FILE`: must exist when given.
    pub config_file: Option<PathBuf>,
    /// Directory searched for `.env`, `.ccproxy.toml`, `ccproxy.toml`; default: current dir.
    pub dir: Option<PathBuf>,
    /// Values given as command-line flags: dotted key and value.
    pub flags: Vec<(&'static str, Value)>,
}

/// Configuration could not be loaded.
#[derive(Debug)]
pub enum ConfigError {
    /// A file could not be read or parsed, or a value has the wrong type or an unknown key.
    Source(String),
    /// Values parsed but are invalid; each names its key and source.
    Invalid(Vec<String>),
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Source(msg) => write!(f, "invalid configuration: {msg}"),
            Self::Invalid(problems) => {
                write!(f, "invalid configuration:")?;
                for p in problems {
                    write!(f, "\n  - {p}")?;
                }
                Ok(())
            }
        }
    }
}

impl std::error::Error for ConfigError {}

/// A validated config and the record of where each value came from.
pub struct LoadedConfig {
    pub config: Config,
    figment: Figment,
    /// The TOML file that was read, if any.
    pub file: Option<PathBuf>,
}

/// One line of `ccproxy config show`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShownValue {
    pub key: String,
    /// JSON rendering, secrets masked.
    pub value: String,
    pub source: String,
}

/// A provider over a ready dictionary, named after where it came from.
struct Named {
    metadata: Metadata,
    dict: Dict,
}

impl Provider for Named {
    fn metadata(&self) -> Metadata {
        self.metadata.clone()
    }

    fn data(&self) -> figment::Result<Map<Profile, Dict>> {
        Ok(Profile::Default.collect(self.dict.clone()))
    }
}

/// The dotted config key a short environment name (`PORT`) sets.
fn short_key(name: &str) -> Option<String> {
    SHORT_NAMES
        .iter()
        .find(|(short, _)| short.eq_ignore_ascii_case(name))
        .map(|(_, key)| (*key).to_string())
}

/// The dotted config key a nested environment name (`SERVER__PORT`) sets.
fn nested_key(name: &str) -> Option<String> {
    let lower = name.to_ascii_lowercase();
    let (section, rest) = lower.split_once("__")?;
    (SECTIONS.contains(&section) && !rest.is_empty())
        .then(|| format!("{section}.{}", rest.replace("__", ".")))
}

/// The dotted config key an environment-style name sets, if it is one of ours.
fn env_key(name: &str) -> Option<String> {
    short_key(name).or_else(|| nested_key(name))
}

fn insert(dict: &mut Dict, key: &str, value: Value) {
    match key.split_once('.') {
        None => {
            dict.insert(key.to_string(), value);
        }
        Some((head, rest)) => {
            let entry = dict
                .entry(head.to_string())
                .or_insert_with(|| Value::from(Dict::new()));
            if let Value::Dict(_, inner) = entry {
                insert(inner, rest, value);
            } else {
                let mut inner = Dict::new();
                insert(&mut inner, rest, value);
                *entry = Value::from(inner);
            }
        }
    }
}

/// `.env` pairs as a provider; short names win over nested names like in the environment.
fn dotenv_provider(path: &Path) -> Result<Option<Named>, ConfigError> {
    if !path.is_file() {
        return Ok(None);
    }
    let iter = dotenvy::from_path_iter(path)
        .map_err(|e| ConfigError::Source(format!("{}: {e}", path.display())))?;
    let mut dict = Dict::new();
    let mut pairs = Vec::new();
    for item in iter {
        let (name, value) =
            item.map_err(|e| ConfigError::Source(format!("{}: {e}", path.display())))?;
        if let Some(key) = env_key(&name) {
            let value: Value = value.parse().unwrap_or_else(|never| match never {});
            pairs.push((short_key(&name).is_none(), key, value));
        }
    }
    // Nested names win over short ones, as in the environment.
    pairs.sort_by_key(|(nested, _, _)| *nested);
    for (_, key, value) in pairs {
        insert(&mut dict, &key, value);
    }
    Ok(Some(Named {
        metadata: Metadata::named(".env file").source(path),
        dict,
    }))
}

/// The environment: short names first, so the nested spelling wins when both are set.
fn environment() -> (Env, Env) {
    (
        Env::raw().filter_map(|name| short_key(name.as_str()).map(Into::into)),
        Env::raw().filter_map(|name| nested_key(name.as_str()).map(Into::into)),
    )
}

/// The TOML file to read: `--config`, else the first that exists of the usual places.
fn toml_file(sources: &ConfigSources, dir: &Path) -> Result<Option<PathBuf>, ConfigError> {
    if let Some(path) = &sources.config_file {
        if !path.is_file() {
            return Err(ConfigError::Source(format!(
                "config file {} does not exist",
                path.display()
            )));
        }
        return Ok(Some(path.clone()));
    }
    let candidates = [
        Some(dir.join(".ccproxy.toml")),
        Some(dir.join("ccproxy.toml")),
        super::config_dir().map(|d| d.join("config.toml")),
    ];
    Ok(candidates.into_iter().flatten().find(|p| p.is_file()))
}

impl LoadedConfig {
    /// Reads every source, merges by precedence and validates.
    pub fn load(sources: &ConfigSources) -> Result<Self, ConfigError> {
        let dir = match &sources.dir {
            Some(d) => d.clone(),
            None => std::env::current_dir()
                .map_err(|e| ConfigError::Source(format!("current directory: {e}")))?,
        };
        let file = toml_file(sources, &dir)?;
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(path) = &file {
            figment = figment.merge(Toml::file_exact(path));
        }
        if let Some(dotenv) = dotenv_provider(&dir.join(".env"))? {
            figment = figment.merge(dotenv);
        }
        let (short, nested) = environment();
        figment = figment.merge(short).merge(nested);
        let mut flags = Dict::new();
        for (key, value) in &sources.flags {
            insert(&mut flags, key, value.clone());
        }
        figment = figment.merge(Named {
            metadata: Metadata::named("command-line flag"),
            dict: flags,
        });

        let config: Config = figment.extract().map_err(|e| {
            ConfigError::Source(
                e.into_iter()
                    .map(|e| describe_figment_error(&e))
                    .collect::<Vec<_>>()
                    .join("; "),
            )
        })?;
        let loaded = Self {
            config,
            figment,
            file,
        };
        loaded.config.validate().map_err(|bad| {
            ConfigError::Invalid(bad.iter().map(|i| loaded.describe_invalid(i)).collect())
        })?;
        Ok(loaded)
    }

    /// Where the value at `key` came from, in words.
    pub fn source_of(&self, key: &str) -> String {
        match self.figment.find_metadata(key) {
            Some(meta) => describe_source(meta, key),
            None => "default".into(),
        }
    }

    fn describe_invalid(&self, invalid: &Invalid) -> String {
        format!(
            "{}: {} (from {})",
            invalid.key,
            invalid.problem,
            self.source_of(invalid.key)
        )
    }

    /// Every leaf value of the effective config, secrets masked, with its source.
    pub fn show(&self) -> Vec<ShownValue> {
        let tree = serde_json::to_value(&self.config).unwrap_or_default();
        let mut out = Vec::new();
        flatten(String::new(), &tree, &mut |key, value| {
            out.push(ShownValue {
                source: self.source_of(&key),
                key,
                value: value.to_string(),
            });
        });
        out
    }
}

fn flatten(
    prefix: String,
    value: &serde_json::Value,
    f: &mut impl FnMut(String, &serde_json::Value),
) {
    match value {
        serde_json::Value::Object(map) => {
            for (k, v) in map {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(key, v, f);
            }
        }
        leaf => f(prefix, leaf),
    }
}

fn describe_source(meta: &Metadata, key: &str) -> String {
    if meta.name.starts_with("environment") {
        // Name the variable: the short or the nested spelling, whichever is set.
        let nested = key.replace('.', "__").to_ascii_uppercase();
        let short = SHORT_NAMES
            .iter()
            .find(|(_, k)| *k == key)
            .map(|(s, _)| s.to_ascii_uppercase());
        // The loader reads the environment: it is one of the configuration's sources.
        #[allow(clippy::disallowed_methods)]
        let name = if std::env::var_os(&nested).is_some() {
            nested
        } else {
            short.unwrap_or(nested)
        };
        return format!("environment variable {name}");
    }
    if meta.name == std::any::type_name::<Config>() {
        return "default".into();
    }
    match &meta.source {
        Some(figment::Source::File(path)) => format!("{} {}", meta.name, path.display()),
        _ => meta.name.to_string(),
    }
}

fn describe_figment_error(e: &figment::Error) -> String {
    let key = e.path.join(".");
    let source = e
        .metadata
        .as_ref()
        .map(|m| describe_source(m, &key))
        .unwrap_or_else(|| "configuration".into());
    let what = match &e.kind {
        figment::error::Kind::UnknownField(field, _) => {
            let key = if key.is_empty() { field.clone() } else { key };
            format!("unknown key `{key}`")
        }
        kind => {
            if key.is_empty() {
                kind.to_string()
            } else {
                format!("{key}: {kind}")
            }
        }
    };
    format!("{what} (from {source})")
}

impl LoadedConfig {
    /// Where the web UI's settings go: the TOML file read (else the user's default one), with
    /// the editable keys that flags, the environment or `.env` set — those win over the file.
    pub fn settings_host(&self) -> crate::settings::SettingsHost {
        let file = self
            .file
            .clone()
            .or_else(|| super::config_dir().map(|d| d.join("config.toml")));
        let from_file = |source: &str| {
            self.file
                .as_ref()
                .is_some_and(|f| source.ends_with(&f.display().to_string()))
        };
        let locked = crate::settings::EDITABLE
            .iter()
            .filter_map(|(key, _)| {
                let source = self.source_of(key);
                (source != "default" && !from_file(&source)).then(|| (key.to_string(), source))
            })
            .collect();
        crate::settings::SettingsHost {
            file,
            locked,
            restart: tokio::sync::Notify::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_names_map_to_keys() {
        assert_eq!(env_key("SERVER__PORT").as_deref(), Some("server.port"));
        assert_eq!(env_key("PORT").as_deref(), Some("server.port"));
        assert_eq!(
            env_key("OAUTH__TOKEN_URL").as_deref(),
            Some("oauth.token_url")
        );
        assert_eq!(
            env_key("CLAUDE_CODE_OAUTH_TOKEN").as_deref(),
            Some("auth.oauth_token")
        );
        for name in crate::config::SECRET_ENV_VARS {
            assert_eq!(env_key(name).as_deref(), Some("security.auth_token"));
        }
        assert_eq!(env_key("PATH"), None);
        assert_eq!(env_key("OTHER__X"), None);
        assert_eq!(env_key("CLAUDE_CONFIG_DIR"), None);
    }
}
