//! The OAuth access token API mode injects, and keeping it fresh.
//!
//! Sources: `auth.credentials_file` (CCProxy's own file) and Claude Code's `.credentials.json` —
//! when both hold a token, the one that expires last — then `auth.oauth_token`
//! (`CLAUDE_CODE_OAUTH_TOKEN`). Files are
//! re-read whenever their modification time or size changes, so an edit is seen by the next
//! request. A token that expires within five minutes is refreshed first; a token upstream
//! rejects is refreshed once. Refreshes are single-flight: concurrent callers wait for the one
//! refresh in progress and then use its result, because refresh tokens rotate and a second
//! refresh with the same token can log the user out; a lock file (`<credentials>.lock`) extends
//! that across processes. A refresh token answered with
//! `invalid_grant` is remembered as dead and never sent again.

pub mod file;
pub mod refresh;
pub mod store;

use crate::config::Config;
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use store::Store;

/// Refresh when the token expires within this margin (as Claude Code does).
pub const REFRESH_MARGIN: Duration = Duration::from_secs(5 * 60);

/// How long a keychain read is reused: keychains cannot be watched cheaply like files.
const KEYCHAIN_CACHE: Duration = Duration::from_secs(5);

/// Which source a token came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceKind {
    /// CCProxy's own login (credentials file or keychain item).
    Ccproxy,
    /// Claude Code's login (its credentials file, or its macOS Keychain item).
    ClaudeCode,
    /// `CLAUDE_CODE_OAUTH_TOKEN` / `auth.oauth_token`.
    Environment,
}

/// A usable access token and what is known about it.
#[derive(Clone)]
pub struct Token {
    access: Arc<SecretString>,
    refresh: Option<Arc<SecretString>>,
    /// Epoch milliseconds.
    pub expires_at: Option<u64>,
    pub kind: SourceKind,
    /// Where it is stored; `None` for the environment token.
    pub store: Option<Store>,
    pub subscription_type: Option<String>,
    pub scopes: Vec<String>,
    /// Who logged in, when CCProxy's own login stored it.
    pub account: file::Account,
}
impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Token")
            .field("kind", &self.kind)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

impl Token {
    /// The bearer value to send upstream. Never log it.
    pub fn access_token(&self) -> &str {
        self.access.expose_secret()
    }

    /// Whether a refresh token is stored with this access token.
    pub fn refresh_is_stored(&self) -> bool {
        self.refresh.is_some()
    }

    fn same_access(&self, other: &Token) -> bool {
        self.access.expose_secret() == other.access.expose_secret()
    }

    fn expires_within(&self, margin: Duration, now_ms: u64) -> bool {
        self.expires_at
            .is_some_and(|at| at <= now_ms.saturating_add(margin.as_millis() as u64))
    }
}

/// Why no token can be used.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CredentialError {
    #[error(
        "no Claude credentials found: run `ccproxy auth login` or log in with `claude` \
         (looked in {0})"
    )]
    Missing(String),
    #[error(
        "the Claude login has expired or was revoked (invalid_grant): run `ccproxy auth login` \
         to sign in again"
    )]
    LoginDead,
    #[error("the OAuth token has expired and cannot be refreshed: {0}")]
    RefreshFailed(String),
}

/// When a cached read is still good: a file's identity, or a keychain read's time.
#[derive(Clone, PartialEq, Eq)]
enum Stamp {
    File {
        modified: Option<SystemTime>,
        len: u64,
    },
    Read(Instant),
}

/// A store's last read: its stamp and its token, or why it could not be used.
type CachedRead = (Stamp, Result<Option<Token>, String>);

/// Reads, caches and refreshes credentials. One per server.
pub struct Credentials {
    http: reqwest::Client,
    config: Arc<Config>,
    sources: Vec<(SourceKind, Store)>,
    /// Keyed by the store itself: a lookup on every request must not format a description.
    cache: Mutex<HashMap<Store, CachedRead>>,
    refresh_lock: tokio::sync::Mutex<()>,
    /// Refresh tokens answered with `invalid_grant`.
    dead: Mutex<Vec<Arc<SecretString>>>,
    refreshes: std::sync::atomic::AtomicU64,
    /// The last refresh attempt's failure: shared with every caller that waited for it, and
    /// the reason the next attempt waits (backing off).
    failure: Mutex<Option<RefreshFailure>>,
}

/// A failed refresh of one access token, and when the next attempt may be made.
struct RefreshFailure {
    access: Arc<SecretString>,
    why: String,
    retry_at: Instant,
    attempts: u32,
}

/// The first wait after a failed refresh; it doubles with each further failure.
const REFRESH_BACKOFF: Duration = Duration::from_secs(5);
/// The longest wait between refresh attempts.
const REFRESH_BACKOFF_MAX: Duration = Duration::from_secs(300);

/// What `/api/status` shows about credentials.
#[derive(Debug, Serialize)]
pub struct CredentialStatus {
    /// `valid`, `expiring` (refresh due), `expired`, `login_expired` (dead refresh token), `missing`.
    pub state: &'static str,
    pub source: Option<SourceKind>,
    /// The file or keychain item (`keychain:service/account`) in use.
    pub location: Option<String>,
    pub expires_at: Option<String>,
    pub expires_in_secs: Option<i64>,
    pub can_refresh: bool,
    pub subscription_type: Option<String>,
    pub account_email: Option<String>,
    pub scopes: Vec<String>,
    pub message: Option<String>,
    /// Credential files that exist but cannot be read or parsed.
    pub problems: Vec<String>,
}

impl Credentials {
    pub fn new(config: Arc<Config>, http: reqwest::Client) -> Self {
        let mut sources = Vec::new();
        if let Some(store) = config.ccproxy_store() {
            sources.push((SourceKind::Ccproxy, store));
        }
        if let Some(path) = config.claude_file() {
            let store = Store::File(path);
            if !sources.iter().any(|(_, s)| *s == store) {
                sources.push((SourceKind::ClaudeCode, store));
            }
        }
        // On macOS Claude Code keeps its login in the Keychain rather than in the file.
        #[cfg(target_os = "macos")]
        if let Some(user) = config.env.user.clone() {
            sources.push((
                SourceKind::ClaudeCode,
                Store::Keychain {
                    service: "Claude Code-credentials".into(),
                    account: user,
                    lock_dir: config.env.config_dir.clone(),
                },
            ));
        }
        // A rotation a crash left in a temporary file is recovered at start-up, unless another
        // process holds the refresh lock (it is writing, and will recover it itself).
        for (_, store) in &sources {
            if let (Store::File(path), Some(lock)) = (store, store.lock_path()) {
                if !file::has_leftovers(path) {
                    continue;
                }
                if let Some(_held) = file::try_lock(&lock) {
                    file::recover(path);
                }
            }
        }
        Self {
            http,
            config,
            sources,
            cache: Mutex::new(HashMap::new()),
            refresh_lock: tokio::sync::Mutex::new(()),
            dead: Mutex::new(Vec::new()),
            failure: Mutex::new(None),
            refreshes: Default::default(),
        }
    }

    /// How many refresh calls this process has made.
    pub fn refresh_count(&self) -> u64 {
        self.refreshes.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The stamp that says whether a cached read of `store` is still good (`None`: absent file).
    fn stamp(store: &Store, cached: Option<&Stamp>) -> Option<Stamp> {
        match store {
            Store::File(path) => {
                let meta = std::fs::metadata(path).ok()?;
                Some(Stamp::File {
                    modified: meta.modified().ok(),
                    len: meta.len(),
                })
            }
            Store::Keychain { .. } => match cached {
                Some(Stamp::Read(at)) if at.elapsed() < KEYCHAIN_CACHE => Some(Stamp::Read(*at)),
                _ => Some(Stamp::Read(Instant::now())),
            },
        }
    }

    /// The token in one store, cached until the file changes (files) or for a few seconds
    /// (keychain items).
    fn read_store(&self, kind: &SourceKind, store: &Store) -> Result<Option<Token>, String> {
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        let cached = cache.get(store);
        let Some(stamp) = Self::stamp(store, cached.map(|(s, _)| s)) else {
            return Ok(None);
        };
        if let Some((seen, token)) = cached {
            if *seen == stamp {
                return token.clone();
            }
        }
        if let Store::File(path) = store {
            match file::make_private(path) {
                Ok(true) => tracing::warn!(
                    path = %path.display(),
                    "credentials file was readable by other users; its mode is now 0600"
                ),
                Ok(false) => {}
                Err(e) => {
                    tracing::warn!(path = %path.display(), "cannot make credentials file private: {e}")
                }
            }
        }
        let token = store
            .read()
            .map_err(|e| e.to_string())
            .and_then(|bytes| match bytes {
                Some(b) => file::parse(&b),
                None => Ok(None),
            })
            .map(|entry| {
                entry.map(|(e, account)| Token {
                    access: Arc::new(e.access_token.into()),
                    refresh: e
                        .refresh_token
                        .filter(|r| !r.is_empty())
                        .map(|r| Arc::new(r.into())),
                    expires_at: e.expires_at,
                    kind: kind.clone(),
                    store: Some(store.clone()),
                    subscription_type: e.subscription_type,
                    scopes: e.scopes,
                    account,
                })
            })
            .map_err(|problem| format!("{}: {problem}", store.describe()));
        if let Err(problem) = &token {
            tracing::warn!("ignoring unreadable credentials {problem}");
        }
        cache.insert(store.clone(), (stamp, token.clone()));
        token
    }

    /// Credential stores that hold something unusable, with the reason.
    pub fn problems(&self) -> Vec<String> {
        self.sources
            .iter()
            .filter_map(|(kind, store)| self.read_store(kind, store).err())
            .collect()
    }

    /// The stores searched, in order: (kind, store).
    pub fn sources(&self) -> &[(SourceKind, Store)] {
        &self.sources
    }

    /// The current token, without refreshing: of the stores that hold one, the one that expires
    /// last (CCProxy's own on a tie); else the environment token.
    pub fn current(&self) -> Result<Token, CredentialError> {
        let mut best: Option<Token> = None;
        for (kind, store) in &self.sources {
            if let Ok(Some(token)) = self.read_store(kind, store) {
                let later = best
                    .as_ref()
                    .is_none_or(|b| token.expires_at.unwrap_or(0) > b.expires_at.unwrap_or(0));
                if later {
                    best = Some(token);
                }
            }
        }
        if let Some(token) = best {
            return Ok(token);
        }
        if let Some(token) = &self.config.auth.oauth_token {
            return Ok(Token {
                access: Arc::new(token.expose_secret().into()),
                refresh: None,
                expires_at: None,
                kind: SourceKind::Environment,
                store: None,
                subscription_type: None,
                scopes: Vec::new(),
                account: file::Account::default(),
            });
        }
        let looked: Vec<String> = self
            .sources
            .iter()
            .map(|(_, s)| s.describe())
            .chain(["CLAUDE_CODE_OAUTH_TOKEN".to_string()])
            .collect();
        Err(CredentialError::Missing(looked.join(", ")))
    }

    fn is_dead(&self, token: &Token) -> bool {
        let Some(refresh) = &token.refresh else {
            return false;
        };
        let dead = self.dead.lock().unwrap_or_else(|e| e.into_inner());
        dead.iter()
            .any(|d| d.expose_secret() == refresh.expose_secret())
    }

    /// A token to use now: refreshed first when it expires within [`REFRESH_MARGIN`].
    pub async fn token(&self) -> Result<Token, CredentialError> {
        let token = self.current()?;
        if !token.expires_within(REFRESH_MARGIN, crate::clock::unix_ms()) {
            return Ok(token);
        }
        // Still valid and a refresh already under way (perhaps hanging): use it, don't queue.
        let valid = !token.expires_within(Duration::ZERO, crate::clock::unix_ms());
        if valid && self.refresh_lock.try_lock().is_err() {
            return Ok(token);
        }
        match self.refresh_replacing(&token, true).await {
            Ok(fresh) => Ok(fresh),
            // Still usable for a few minutes: do not fail the request over a transient error.
            Err(CredentialError::RefreshFailed(why))
                if !token.expires_within(Duration::ZERO, crate::clock::unix_ms()) =>
            {
                tracing::warn!(
                    "token refresh failed, using the current token until it expires: {why}"
                );
                Ok(token)
            }
            Err(e) => Err(e),
        }
    }

    /// Called after upstream rejected `rejected` with 401: a fresh token, refreshing at most once
    /// across all concurrent callers.
    pub async fn token_after_rejection(&self, rejected: &Token) -> Result<Token, CredentialError> {
        self.refresh_replacing(rejected, true).await
    }

    /// Forces a refresh now (`ccproxy auth refresh`), unless one finished while waiting for the lock.
    pub async fn force_refresh(&self) -> Result<Token, CredentialError> {
        let snapshot = self.current()?;
        self.refresh_replacing(&snapshot, false).await
    }

    async fn lock_file(&self, path: PathBuf) -> Result<std::fs::File, CredentialError> {
        let wait = Duration::from_secs(self.config.oauth.request_timeout_secs.saturating_mul(2));
        let shown = path.display().to_string();
        let locking = tokio::task::spawn_blocking(move || file::lock(&path));
        match tokio::time::timeout(wait, locking).await {
            Ok(Ok(Ok(file))) => Ok(file),
            Ok(Ok(Err(e))) => Err(CredentialError::RefreshFailed(format!(
                "cannot lock {shown}: {e}"
            ))),
            Ok(Err(e)) => Err(CredentialError::RefreshFailed(e.to_string())),
            Err(_) => Err(CredentialError::RefreshFailed(format!(
                "another process has held {shown} for over {wait:?}"
            ))),
        }
    }

    /// Single-flight refresh: under the lock, re-read; if another caller already replaced
    /// `stale`, use theirs; if the last attempt for this token failed recently, that failure is
    /// the answer (with `backoff`); otherwise make the one refresh call.
    async fn refresh_replacing(
        &self,
        stale: &Token,
        backoff: bool,
    ) -> Result<Token, CredentialError> {
        let _flight = self.refresh_lock.lock().await;
        // Other processes (`ccproxy auth refresh`, a second server) take the same file lock.
        let _file_lock = match stale.store.as_ref().and_then(Store::lock_path) {
            Some(path) => Some(self.lock_file(path).await?),
            None => None,
        };
        // A rotation a crash left in a temporary file is the login to refresh from.
        if let Some(Store::File(path)) = &stale.store {
            if file::has_leftovers(path) {
                file::recover(path);
            }
        }
        let current = self.current()?;
        if !current.same_access(stale)
            && !current.expires_within(REFRESH_MARGIN, crate::clock::unix_ms())
        {
            return Ok(current);
        }
        let Some(refresh_token) = current.refresh.clone() else {
            return Err(CredentialError::RefreshFailed(
                "no refresh token is stored with it; log in again".into(),
            ));
        };
        if self.is_dead(&current) {
            return Err(CredentialError::LoginDead);
        }
        if backoff {
            let failure = self.failure.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(f) = failure.as_ref().filter(|f| {
                f.access.expose_secret() == current.access.expose_secret()
                    && Instant::now() < f.retry_at
            }) {
                let wait = f.retry_at.saturating_duration_since(Instant::now());
                return Err(CredentialError::RefreshFailed(format!(
                    "{} (the next attempt in {} s)",
                    f.why,
                    wait.as_secs().max(1)
                )));
            }
        }
        self.refreshes
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let response = match refresh::refresh(
            &self.http,
            &self.config.oauth,
            refresh_token.expose_secret(),
        )
        .await
        {
            Ok(r) => r,
            Err(refresh::RefreshError::InvalidGrant) => {
                tracing::warn!(
                    "the refresh token was rejected (invalid_grant); a new login is needed"
                );
                self.dead
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(refresh_token);
                return Err(CredentialError::LoginDead);
            }
            Err(refresh::RefreshError::Failed(why)) => {
                let mut failure = self.failure.lock().unwrap_or_else(|e| e.into_inner());
                let attempts = failure
                    .as_ref()
                    .filter(|f| f.access.expose_secret() == current.access.expose_secret())
                    .map_or(1, |f| f.attempts + 1);
                let wait = REFRESH_BACKOFF
                    .saturating_mul(1 << attempts.saturating_sub(1).min(10))
                    .min(REFRESH_BACKOFF_MAX);
                *failure = Some(RefreshFailure {
                    access: current.access.clone(),
                    why: why.clone(),
                    retry_at: Instant::now() + wait,
                    attempts,
                });
                return Err(CredentialError::RefreshFailed(why));
            }
        };
        *self.failure.lock().unwrap_or_else(|e| e.into_inner()) = None;
        let expires_at = response
            .expires_in
            .map(|secs| crate::clock::unix_ms().saturating_add(secs.saturating_mul(1000)));
        let scopes = response
            .scope
            .as_deref()
            .map(|s| s.split_whitespace().map(String::from).collect::<Vec<_>>());
        let fresh = Token {
            access: Arc::new(response.access_token.as_str().into()),
            refresh: match &response.refresh_token {
                Some(r) if !r.is_empty() => Some(Arc::new(r.as_str().into())),
                _ => Some(refresh_token),
            },
            expires_at,
            kind: current.kind.clone(),
            store: current.store.clone(),
            subscription_type: current.subscription_type.clone(),
            scopes: scopes.clone().unwrap_or_else(|| current.scopes.clone()),
            account: current.account.clone(),
        };
        if let Some(store) = &current.store {
            let rotation = file::Rotation {
                access_token: &response.access_token,
                refresh_token: response.refresh_token.as_deref().filter(|r| !r.is_empty()),
                expires_at,
                scopes,
            };
            let saved = store.read().and_then(|existing| {
                store.write(&file::rotation_document(existing.as_deref(), &rotation))
            });
            let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
            match saved {
                // Keychain reads are cached by time: put the new token in at once.
                Ok(()) if matches!(store, Store::Keychain { .. }) => {
                    cache.insert(
                        store.clone(),
                        (Stamp::Read(Instant::now()), Ok(Some(fresh.clone()))),
                    );
                }
                Ok(()) => {}
                Err(e) => {
                    // The new tokens live on in memory for this process; say loudly that the
                    // store is stale.
                    tracing::error!(store = %store.describe(), "could not save refreshed credentials: {e}");
                    if let Some(entry) = cache.get_mut(store) {
                        entry.1 = Ok(Some(fresh.clone()));
                    }
                }
            }
        }
        tracing::info!(source = ?fresh.kind, "refreshed the OAuth access token");
        Ok(fresh)
    }

    /// The credential state for status pages.
    pub fn status(&self) -> CredentialStatus {
        let token = match self.current() {
            Ok(t) => t,
            Err(e) => {
                return CredentialStatus {
                    state: "missing",
                    source: None,
                    location: None,
                    expires_at: None,
                    expires_in_secs: None,
                    can_refresh: false,
                    subscription_type: None,
                    account_email: None,
                    scopes: Vec::new(),
                    message: Some(e.to_string()),
                    problems: self.problems(),
                }
            }
        };
        let now = crate::clock::unix_ms();
        let dead = self.is_dead(&token);
        let state = if dead {
            "login_expired"
        } else if token.expires_within(Duration::ZERO, now) {
            "expired"
        } else if token.expires_within(REFRESH_MARGIN, now) {
            "expiring"
        } else {
            "valid"
        };
        CredentialStatus {
            state,
            source: Some(token.kind.clone()),
            location: token.store.as_ref().map(Store::describe),
            expires_at: token.expires_at.map(|ms| {
                humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_millis(ms))
                    .to_string()
            }),
            expires_in_secs: token.expires_at.map(|ms| (ms as i64 - now as i64) / 1000),
            can_refresh: token.refresh.is_some() && !dead,
            subscription_type: token.subscription_type.clone(),
            account_email: token.account.email.clone(),
            scopes: token.scopes.clone(),
            message: dead.then(|| CredentialError::LoginDead.to_string()),
            problems: self.problems(),
        }
    }
}
