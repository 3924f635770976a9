//! The validated, immutable [`Config`] every part of the server reads.
//!
//! Loading (which files, which environment variables, which flags) lives in [`load`]; this module
//! owns the shape, the defaults and the validation. A `Config` that exists is valid: code that
//! holds one never re-checks it.

mod environment;
pub mod load;

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize, Serializer};
use std::net::IpAddr;
use std::path::PathBuf;

pub use environment::{passed_to_container, Environment};
pub use load::{ConfigError, ConfigSources, LoadedConfig};

/// The environment variables that carry CCProxy's own secrets (the API token, in both
/// spellings): never passed on to a child process (the `claude` CLI and the tools it runs).
pub const SECRET_ENV_VARS: [&str; 2] = ["AUTH_TOKEN", "SECURITY__AUTH_TOKEN"];

/// Default models listed by `/models`; newer ones come from configuration.
pub const DEFAULT_MODELS: [&str; 8] = [
    "claude-opus-4-1-20250805",
    "claude-opus-4-20250514",
    "claude-sonnet-4-5-20250929",
    "claude-sonnet-4-20250514",
    "claude-3-7-sonnet-20250219",
    "claude-3-5-sonnet-20241022",
    "claude-3-5-sonnet-20240620",
    "claude-3-5-haiku-20241022",
];

/// The whole configuration.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub server: ServerConfig,
    pub security: SecurityConfig,
    pub claude: ClaudeConfig,
    pub auth: AuthConfig,
    pub oauth: OAuthConfig,
    pub openai: OpenAiConfig,
    pub observability: ObservabilityConfig,
    pub billing: BillingConfig,
    /// The directories the defaults are made from, read from the process environment once,
    /// when the configuration is made (never per request).
    #[serde(skip)]
    pub env: Environment,
}

/// Who pays: what to do when upstream would bill requests to extra usage, and when to alert.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BillingConfig {
    /// `block` (default): while upstream's latest reading says requests would be drawn from
    /// extra usage, model requests are refused before they are sent; `warn`: sent, with an
    /// alert; `allow`: sent.
    pub extra_usage: ExtraUsagePolicy,
    /// Utilizations (fractions of a window) at which an alert fires, once per crossing.
    pub alert_thresholds: Vec<f64>,
}

impl Default for BillingConfig {
    fn default() -> Self {
        Self {
            extra_usage: ExtraUsagePolicy::Block,
            alert_thresholds: vec![0.8, 0.95],
        }
    }
}

/// `billing.extra_usage`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExtraUsagePolicy {
    #[default]
    Block,
    Warn,
    Allow,
}

impl ExtraUsagePolicy {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Block => "block",
            Self::Warn => "warn",
            Self::Allow => "allow",
        }
    }
}

/// The request log, metrics and pricing.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ObservabilityConfig {
    /// The master switch: `false` skips all per-request observation (no record, access-log line,
    /// metrics or request log), for the leanest hot path.
    pub enabled: bool,
    /// Keep a record of every request in SQLite.
    pub request_log: bool,
    /// The SQLite file; default `$XDG_DATA_HOME/ccproxy/requests.db`.
    pub log_db: Option<PathBuf>,
    /// Records older than this are deleted.
    pub retention_days: u64,
    /// The oldest records are deleted while the database is larger than this.
    pub max_db_mb: u64,
    /// Records waiting to be written; beyond this they are dropped (and counted), never waited for.
    pub queue_capacity: usize,
    /// Serve Prometheus metrics at `GET /metrics`.
    pub metrics: bool,
    /// Serve `/metrics` on this port (same address) instead of the main one; 0 picks a free port.
    pub metrics_port: Option<u16>,
    /// Also store request and response bodies (size-capped, with secrets and inline file data
    /// redacted). Off by default.
    pub store_bodies: bool,
    /// The most of each body stored, in bytes.
    pub max_stored_body_bytes: usize,
    /// A TOML file of prices that override or extend the built-in table.
    pub pricing_file: Option<PathBuf>,
}

impl Default for ObservabilityConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            request_log: true,
            log_db: None,
            retention_days: 30,
            max_db_mb: 200,
            queue_capacity: 10_000,
            metrics: true,
            metrics_port: None,
            store_bodies: false,
            max_stored_body_bytes: 64 * 1024,
            pricing_file: None,
        }
    }
}

/// `$XDG_DATA_HOME/ccproxy` (default `~/.local/share/ccproxy`), read now: for hosts at start-up.
pub fn data_dir() -> Option<PathBuf> {
    Environment::read().data_dir
}

/// The OpenAI-compatible surface.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OpenAiConfig {
    /// `max_tokens` sent upstream when a request gives none.
    pub default_max_tokens: u64,
    /// Model names clients may use (OpenAI's, or short names) → Claude model ids. Replies report
    /// the name the client asked for.
    pub model_aliases: std::collections::BTreeMap<String, String>,
    /// Responses API answers kept in memory for `previous_response_id`, `item_reference` and
    /// `GET /v1/responses/{id}` (0: none).
    pub stored_responses: usize,
    /// How long a kept response lasts, in seconds.
    pub stored_response_ttl_secs: u64,
}

impl Default for OpenAiConfig {
    fn default() -> Self {
        let sonnet = "claude-sonnet-4-20250514";
        let opus = "claude-opus-4-20250514";
        let haiku = "claude-3-5-haiku-20241022";
        Self {
            default_max_tokens: 8192,
            stored_responses: 200,
            stored_response_ttl_secs: 3600,
            model_aliases: [
                ("gpt-4o", sonnet),
                ("gpt-4o-mini", haiku),
                ("gpt-4.1", sonnet),
                ("gpt-4.1-mini", haiku),
                ("gpt-4-turbo", sonnet),
                ("gpt-4", sonnet),
                ("gpt-3.5-turbo", haiku),
                ("gpt-5", opus),
                ("o1", opus),
                ("o3", opus),
                ("o1-mini", sonnet),
                ("o3-mini", sonnet),
                ("o4-mini", sonnet),
                ("sonnet", sonnet),
                ("opus", opus),
                ("haiku", haiku),
            ]
            .into_iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect(),
        }
    }
}

impl OpenAiConfig {
    /// The aliases as pairs, for the translation.
    pub fn alias_pairs(&self) -> Vec<(String, String)> {
        self.model_aliases
            .iter()
            .map(|(a, b)| (a.clone(), b.clone()))
            .collect()
    }
}

/// How the server listens and protects itself.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Address to bind; an IP address or `localhost`.
    pub host: String,
    /// TCP port; 0 picks a free one.
    pub port: u16,
    /// A `tracing` filter: `info`, `debug`, `ccproxy_core=debug,info` …
    pub log_level: String,
    pub log_format: LogFormat,
    /// Extra `Host` header names accepted besides loopback names and the bind address
    /// (DNS-rebinding protection). `*` accepts any.
    pub allowed_hosts: Vec<String>,
    /// Browser origins allowed by CORS; `*` in a pattern matches any run of characters
    /// except `/`. `["*"]` allows every origin.
    pub cors_origins: Vec<String>,
    /// Largest accepted request body, in bytes.
    pub max_body_bytes: u64,
    /// Seconds in-flight requests get to finish on shutdown before they are closed.
    pub shutdown_timeout_secs: u64,
    /// Seconds a connection may go without sending a complete request head — after it opened,
    /// or after its last response (an idle keep-alive connection) — before it is closed; slow
    /// senders (slowloris) and forgotten connections free their slot.
    pub idle_timeout_secs: u64,
    /// Most client connections open at once; more wait to be accepted until one closes.
    pub max_connections: usize,
    /// Allow binding a non-loopback address without `security.auth_token`.
    pub allow_remote_without_auth: bool,
}

/// Text or JSON log lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

/// Protection of the proxy itself.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SecurityConfig {
    /// When set, every route but `GET /health` requires it as `x-api-key` or bearer token.
    #[serde(
        serialize_with = "mask_secret",
        skip_serializing_if = "Option::is_none"
    )]
    pub auth_token: Option<SecretString>,
}

/// The upstream Anthropic API.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClaudeConfig {
    /// Base URL of the Anthropic API, without `/v1`.
    pub api_base_url: String,
    pub connect_timeout_secs: u64,
    /// Longest silence allowed while reading an upstream response (headers or body).
    pub read_timeout_secs: u64,
    /// Model ids listed by `/models`.
    pub models: Vec<String>,

    // Claude Code mode (`/sdk`): what the `claude` CLI may do is decided here, never by a request.
    /// The `claude` executable; default: `PATH`, then the usual npm install locations.
    pub cli_path: Option<PathBuf>,
    /// The CLI's working directory; default `<data dir>/workspace` (created), never `$HOME`.
    pub cwd: Option<PathBuf>,
    /// Tools the CLI may use without asking (`--allowedTools`), e.g. `["Read", "Bash(git:*)"]`.
    pub allowed_tools: Vec<String>,
    /// Tools the CLI may never use (`--disallowedTools`).
    pub disallowed_tools: Vec<String>,
    /// `default`, `acceptEdits`, `plan`, or `bypassPermissions` (needs `allow_bypass_permissions`).
    pub permission_mode: PermissionMode,
    /// The explicit opt-in `permission_mode = "bypassPermissions"` requires.
    pub allow_bypass_permissions: bool,
    /// The most agentic turns per request (`--max-turns`).
    pub max_turns: Option<u32>,
    /// An MCP servers file for the CLI (`--mcp-config`).
    pub mcp_config: Option<PathBuf>,
    /// Initialized CLI processes kept ready for requests.
    pub pool_size: usize,
    /// Fill the pool at start-up instead of on the first `/sdk` request.
    pub prewarm: bool,
    /// A warm process unused for this long is stopped.
    pub pool_idle_secs: u64,
    /// Requests served by the CLI at the same time.
    pub max_concurrent: usize,
    /// Requests waiting for a free slot; beyond this they get a 429.
    pub max_queued: usize,
    /// Longest wait for a free slot before a 503.
    pub queue_timeout_secs: u64,
    /// A session (`/sdk/{session}/…`) unused for this long is closed.
    pub session_idle_secs: u64,
    /// Sessions kept at once; the least recently used one is closed beyond this.
    pub max_sessions: usize,
    /// How long a turn that called the client's tools waits for the client's next request with
    /// their results; then the turn is interrupted and its process stopped.
    pub tool_result_timeout_secs: u64,
    /// Keep the CLI's built-in tools (under the permission settings above) when a request
    /// brings its own tools; by default such a request gets only its own.
    pub builtin_tools_with_client_tools: bool,
    /// Where the CLI runs: on this machine (`none`) or in a container (`docker`).
    pub isolation: Isolation,
    /// The container, when `isolation = "docker"`.
    pub docker: DockerConfig,
}

/// Where Claude Code mode's CLI processes run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Isolation {
    /// As a child process of the server, with the server's user and filesystem.
    #[default]
    None,
    /// In a container per process that sees only the workspace (`docker run`).
    Docker,
}

impl Isolation {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Docker => "docker",
        }
    }
}

/// The container Claude Code mode's CLI runs in (`claude.isolation = "docker"`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DockerConfig {
    /// An image with `claude` on `PATH` (`ccproxy docker build-image` builds one).
    pub image: String,
    /// The user the CLI runs as (`--user`): a non-root uid or `uid:gid`.
    #[serde(deserialize_with = "text")]
    pub user: String,
    /// `--memory` (e.g. `4g`); empty: no limit.
    #[serde(deserialize_with = "text")]
    pub memory: String,
    /// `--cpus` (e.g. `2`, `1.5`); empty: no limit.
    #[serde(deserialize_with = "text")]
    pub cpus: String,
    /// `--pids-limit`; 0: no limit.
    pub pids_limit: u32,
    /// `--network`: `host` (default: an upstream or proxy on loopback works), `bridge`, or a
    /// network's name.
    pub network: String,
    /// More `docker run` options, from a short list of safe ones (see the docs); mounts only of
    /// the paths `allow_mounts` lists.
    pub extra_args: Vec<String>,
    /// Host paths `extra_args` may mount (`-v`, `--mount`), besides the workspace.
    pub allow_mounts: Vec<PathBuf>,
}

impl Default for DockerConfig {
    fn default() -> Self {
        Self {
            image: crate::claude_code::docker::DEFAULT_IMAGE.into(),
            user: "1000".into(),
            memory: "4g".into(),
            cpus: String::new(),
            pids_limit: 1024,
            network: "host".into(),
            extra_args: Vec::new(),
            allow_mounts: Vec::new(),
        }
    }
}

/// What the CLI may do without asking (`--permission-mode`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum PermissionMode {
    #[default]
    #[serde(rename = "default")]
    Default,
    #[serde(rename = "acceptEdits")]
    AcceptEdits,
    #[serde(rename = "plan")]
    Plan,
    #[serde(rename = "bypassPermissions")]
    BypassPermissions,
}

impl PermissionMode {
    /// The value of `--permission-mode`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Default => "default",
            Self::AcceptEdits => "acceptEdits",
            Self::Plan => "plan",
            Self::BypassPermissions => "bypassPermissions",
        }
    }
}

/// Where credentials come from.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// Where CCProxy keeps its own login: `file` (`credentials_file`) or `keyring` (the OS
    /// keychain: Secret Service, macOS Keychain, Windows Credential Manager).
    pub storage: Storage,
    /// Service name of the keychain item when `storage = "keyring"`.
    pub keyring_service: String,
    /// CCProxy's own credentials file; default `$XDG_CONFIG_HOME/ccproxy/credentials.json`.
    pub credentials_file: Option<PathBuf>,
    /// Claude Code's credentials file; default `$CLAUDE_CONFIG_DIR/.credentials.json`,
    /// else `~/.claude/.credentials.json`.
    pub claude_credentials_file: Option<PathBuf>,
    /// An access token without refresh (`CLAUDE_CODE_OAUTH_TOKEN`), used when no file has one.
    #[serde(
        serialize_with = "mask_secret",
        skip_serializing_if = "Option::is_none"
    )]
    pub oauth_token: Option<SecretString>,
}

/// Where CCProxy keeps its own login.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Storage {
    #[default]
    File,
    Keyring,
}

/// Account name of CCProxy's keychain item.
pub const KEYRING_ACCOUNT: &str = "claude-oauth";

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            storage: Storage::File,
            keyring_service: "ccproxy".into(),
            credentials_file: None,
            claude_credentials_file: None,
            oauth_token: None,
        }
    }
}

/// The OAuth endpoints and client id (Claude Code's, by default); all configurable, so tests
/// point them at a loopback mock.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OAuthConfig {
    /// Where the user approves the login in a browser.
    pub authorize_url: String,
    /// Code exchange and refresh.
    pub token_url: String,
    /// Token revocation (logout).
    pub revoke_url: String,
    /// Account and subscription of a token.
    pub profile_url: String,
    /// Redirect of the manual flow: a page that shows the code for the user to paste.
    pub manual_redirect_uri: String,
    pub client_id: String,
    /// Space-separated scopes asked for at login and sent with a refresh.
    pub scopes: String,
    /// How long a login may wait for the user's approval.
    pub login_timeout_secs: u64,
    /// Time limit of each call to the OAuth endpoints.
    pub request_timeout_secs: u64,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            host: "127.0.0.1".into(),
            port: 8000,
            log_level: "info".into(),
            log_format: LogFormat::Text,
            allowed_hosts: Vec::new(),
            cors_origins: [
                "http://localhost:*",
                "http://127.0.0.1:*",
                "http://[::1]:*",
                "https://localhost:*",
                "https://127.0.0.1:*",
                "http://localhost",
                "http://127.0.0.1",
                "tauri://localhost",
            ]
            .map(String::from)
            .to_vec(),
            max_body_bytes: 32 * 1024 * 1024,
            shutdown_timeout_secs: 10,
            idle_timeout_secs: 60,
            max_connections: 128,
            allow_remote_without_auth: false,
        }
    }
}

impl Default for ClaudeConfig {
    fn default() -> Self {
        Self {
            api_base_url: "https://api.anthropic.com".into(),
            connect_timeout_secs: 10,
            read_timeout_secs: 600,
            models: DEFAULT_MODELS.map(String::from).to_vec(),
            cli_path: None,
            cwd: None,
            allowed_tools: Vec::new(),
            disallowed_tools: Vec::new(),
            permission_mode: PermissionMode::Default,
            allow_bypass_permissions: false,
            max_turns: None,
            mcp_config: None,
            pool_size: 2,
            prewarm: false,
            pool_idle_secs: 600,
            max_concurrent: 4,
            max_queued: 16,
            queue_timeout_secs: 60,
            tool_result_timeout_secs: 300,
            builtin_tools_with_client_tools: false,
            isolation: Isolation::None,
            docker: DockerConfig::default(),
            session_idle_secs: 1800,
            max_sessions: 16,
        }
    }
}

impl Default for OAuthConfig {
    fn default() -> Self {
        Self {
            authorize_url: "https://claude.com/cai/oauth/authorize".into(),
            token_url: "https://platform.claude.com/v1/oauth/token".into(),
            revoke_url: "https://platform.claude.com/v1/oauth/token/revoke".into(),
            profile_url: "https://api.anthropic.com/api/oauth/profile".into(),
            manual_redirect_uri: "https://platform.claude.com/oauth/code/callback".into(),
            client_id: "9d1c250a-e61b-44d9-88ed-5944d1962f5e".into(),
            scopes: "org:create_api_key user:profile user:inference user:sessions:claude_code \
                     user:mcp_servers user:file_upload user:plugins"
                .into(),
            login_timeout_secs: 300,
            request_timeout_secs: 30,
        }
    }
}

/// A value that is text, written as text or as a number (`CLAUDE__DOCKER__USER=1000`, `cpus = 2`).
fn text<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Written {
        Text(String),
        Whole(u64),
        Fraction(f64),
    }
    Ok(match Written::deserialize(d)? {
        Written::Text(t) => t,
        Written::Whole(n) => n.to_string(),
        Written::Fraction(f) => f.to_string(),
    })
}

fn mask_secret<S: Serializer>(secret: &Option<SecretString>, s: S) -> Result<S::Ok, S::Error> {
    match secret {
        Some(secret) => s.serialize_str(&mask(secret.expose_secret())),
        None => s.serialize_none(),
    }
}

/// How a secret is shown to people: its length only.
pub fn mask(secret: &str) -> String {
    format!("<secret, {} chars>", secret.chars().count())
}

/// One invalid value: the dotted key and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    pub key: &'static str,
    pub problem: String,
}

impl Config {
    /// Checks every value that serde's types cannot; returns all problems, not just the first.
    pub fn validate(&self) -> Result<(), Vec<Invalid>> {
        let mut bad = Vec::new();
        let mut check = |key: &'static str, problem: Option<String>| {
            if let Some(problem) = problem {
                bad.push(Invalid { key, problem });
            }
        };
        check(
            "server.host",
            self.server
                .bind_ip()
                .is_none()
                .then(|| format!("`{}` is not an IP address or `localhost`", self.server.host)),
        );
        check(
            "server.log_level",
            tracing_subscriber::EnvFilter::builder()
                .parse(&self.server.log_level)
                .err()
                .map(|e| format!("`{}` is not a log filter: {e}", self.server.log_level)),
        );
        for (key, value) in [
            ("server.max_body_bytes", self.server.max_body_bytes),
            ("server.idle_timeout_secs", self.server.idle_timeout_secs),
            ("server.max_connections", self.server.max_connections as u64),
        ] {
            check(key, (value == 0).then(|| "must be greater than 0".into()));
        }
        for (key, url) in [
            ("claude.api_base_url", &self.claude.api_base_url),
            ("oauth.authorize_url", &self.oauth.authorize_url),
            ("oauth.token_url", &self.oauth.token_url),
            ("oauth.revoke_url", &self.oauth.revoke_url),
            ("oauth.profile_url", &self.oauth.profile_url),
            ("oauth.manual_redirect_uri", &self.oauth.manual_redirect_uri),
        ] {
            check(key, url_problem(url));
        }
        check(
            "claude.permission_mode",
            (self.claude.permission_mode == PermissionMode::BypassPermissions
                && !self.claude.allow_bypass_permissions)
                .then(|| {
                    "`bypassPermissions` lets the CLI run any command without asking; \
                     set claude.allow_bypass_permissions = true to mean it"
                        .into()
                }),
        );
        if self.claude.isolation == Isolation::Docker {
            let docker = &self.claude.docker;
            check(
                "claude.docker.image",
                docker
                    .image
                    .trim()
                    .is_empty()
                    .then(|| "must name an image".into()),
            );
            check(
                "claude.docker.user",
                crate::claude_code::docker::user_problem(&docker.user),
            );
            check(
                "claude.docker.cpus",
                (!docker.cpus.is_empty() && !docker.cpus.parse::<f64>().is_ok_and(|c| c > 0.0))
                    .then(|| format!("`{}` is not a number of CPUs above 0", docker.cpus)),
            );
            check(
                "claude.docker.memory",
                (!docker.memory.is_empty() && !crate::claude_code::docker::is_size(&docker.memory))
                    .then(|| format!("`{}` is not a size like `512m` or `4g`", docker.memory)),
            );
            check(
                "claude.docker.extra_args",
                crate::claude_code::docker::extra_args_problem(
                    &docker.extra_args,
                    &docker.allow_mounts,
                )
                .err(),
            );
        }
        check(
            "claude.max_concurrent",
            (self.claude.max_concurrent == 0).then(|| "must be greater than 0".into()),
        );
        check(
            "observability.queue_capacity",
            (self.observability.queue_capacity == 0).then(|| "must be greater than 0".into()),
        );
        check(
            "observability.retention_days",
            (self.observability.retention_days == 0).then(|| "must be greater than 0".into()),
        );
        check(
            "openai.default_max_tokens",
            (self.openai.default_max_tokens == 0).then(|| "must be greater than 0".into()),
        );
        check(
            "claude.connect_timeout_secs",
            (self.claude.connect_timeout_secs == 0).then(|| "must be greater than 0".into()),
        );
        check(
            "claude.read_timeout_secs",
            (self.claude.read_timeout_secs == 0).then(|| "must be greater than 0".into()),
        );
        check(
            "billing.alert_thresholds",
            (self.billing.alert_thresholds.len() > 8
                || self
                    .billing
                    .alert_thresholds
                    .iter()
                    .any(|t| !(*t > 0.0 && *t <= 1.0)))
            .then(|| "at most 8 fractions, each above 0 and at most 1 (0.8 is 80 %)".into()),
        );
        check(
            "claude.tool_result_timeout_secs",
            (!(1..=86_400).contains(&self.claude.tool_result_timeout_secs))
                .then(|| "must be 1 to 86400 (a day)".into()),
        );
        for (key, secs) in [
            ("oauth.login_timeout_secs", self.oauth.login_timeout_secs),
            (
                "oauth.request_timeout_secs",
                self.oauth.request_timeout_secs,
            ),
        ] {
            check(key, (secs == 0).then(|| "must be greater than 0".into()));
        }
        check(
            "auth.keyring_service",
            self.auth
                .keyring_service
                .trim()
                .is_empty()
                .then(|| "must not be empty".into()),
        );
        check(
            "oauth.client_id",
            self.oauth
                .client_id
                .trim()
                .is_empty()
                .then(|| "must not be empty".into()),
        );
        check(
            "security.auth_token",
            self.security.auth_token.as_ref().and_then(|t| {
                let t = t.expose_secret();
                if t.len() < 8 {
                    Some(
                        "must be at least 8 characters (`ccproxy generate-token` makes one)".into(),
                    )
                } else if !t.bytes().all(|b| b.is_ascii_graphic()) {
                    Some("must be printable ASCII without spaces".into())
                } else {
                    None
                }
            }),
        );
        if bad.is_empty() {
            Ok(())
        } else {
            Err(bad)
        }
    }
}

fn url_problem(url: &str) -> Option<String> {
    match reqwest::Url::parse(url) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => None,
        Ok(_) => Some(format!("`{url}` must be an http(s) URL with a host")),
        Err(e) => Some(format!("`{url}` is not a URL: {e}")),
    }
}

impl ServerConfig {
    /// The address to bind, if `host` is valid.
    pub fn bind_ip(&self) -> Option<IpAddr> {
        if self.host.eq_ignore_ascii_case("localhost") {
            return Some(IpAddr::from([127, 0, 0, 1]));
        }
        self.host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse()
            .ok()
    }
}

impl ClaudeConfig {
    /// `api_base_url` without a trailing slash, ready for appending `/v1/…`.
    pub fn base_url(&self) -> &str {
        self.api_base_url.trim_end_matches('/')
    }
}

/// `$XDG_CONFIG_HOME/ccproxy` (default `~/.config/ccproxy`), read now: for the loader and
/// hosts at start-up.
pub fn config_dir() -> Option<PathBuf> {
    Environment::read().config_dir
}

impl Config {
    /// The request log's database file.
    pub fn db_path(&self) -> Option<PathBuf> {
        self.observability
            .log_db
            .clone()
            .or_else(|| self.env.data_dir.as_ref().map(|d| d.join("requests.db")))
    }

    /// The CLI's working directory.
    pub fn workspace(&self) -> Option<PathBuf> {
        self.claude
            .cwd
            .clone()
            .or_else(|| self.env.data_dir.as_ref().map(|d| d.join("workspace")))
    }

    /// Where CCProxy's own login is read and written.
    pub fn ccproxy_store(&self) -> Option<crate::credentials::store::Store> {
        use crate::credentials::store::Store;
        match self.auth.storage {
            Storage::File => self.ccproxy_file().map(Store::File),
            Storage::Keyring => Some(Store::Keychain {
                service: self.auth.keyring_service.clone(),
                account: KEYRING_ACCOUNT.into(),
                lock_dir: self.env.config_dir.clone(),
            }),
        }
    }

    /// CCProxy's own credentials file.
    pub fn ccproxy_file(&self) -> Option<PathBuf> {
        self.auth.credentials_file.clone().or_else(|| {
            self.env
                .config_dir
                .as_ref()
                .map(|d| d.join("credentials.json"))
        })
    }

    /// Claude Code's credentials file.
    pub fn claude_file(&self) -> Option<PathBuf> {
        self.auth.claude_credentials_file.clone().or_else(|| {
            self.env
                .claude_dir
                .as_ref()
                .map(|d| d.join(".credentials.json"))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        Config::default().validate().unwrap();
    }

    #[test]
    fn every_problem_is_reported_with_its_key() {
        let mut c = Config::default();
        c.server.host = "example.com".into();
        c.claude.api_base_url = "ftp://x".into();
        c.security.auth_token = Some("short".into());
        let keys: Vec<_> = c
            .validate()
            .unwrap_err()
            .into_iter()
            .map(|i| i.key)
            .collect();
        assert_eq!(
            keys,
            ["server.host", "claude.api_base_url", "security.auth_token"]
        );
    }

    #[test]
    fn secrets_are_masked_when_serialized() {
        let mut c = Config::default();
        c.security.auth_token = Some("supersecretvalue".into());
        let shown = serde_json::to_string(&c).unwrap();
        assert!(!shown.contains("supersecretvalue"));
        assert!(shown.contains("<secret, 16 chars>"));
    }
}
