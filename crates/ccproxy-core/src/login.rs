//! Signing in with a Claude account: the OAuth authorization-code flow with PKCE (S256),
//! built once and used by `ccproxy auth login` (loopback or manual) and by the server's
//! `/oauth/*` routes (the web UI).
//!
//! [`begin`] makes the authorize URL and the secrets to keep; [`finish`] checks `state`,
//! exchanges the code, fetches the profile and returns a [`Login`]; [`save`] stores it in
//! CCProxy's credentials file. [`loopback`] runs the whole default CLI flow.

use crate::config::OAuthConfig;
use crate::credentials::file::{self, Account, NewLogin};
use crate::credentials::store::{Store, StoreError};
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse};
use oauth2::{CsrfToken, PkceCodeChallenge};
use serde::Deserialize;
use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};
use subtle::ConstantTimeEq;
use tokio::sync::{mpsc, Mutex};

/// A started login: what must be kept until the code comes back. Never shown to anyone but the
/// user's browser (the URL).
pub struct PendingLogin {
    pub state: String,
    verifier: String,
    pub redirect_uri: String,
    pub authorize_url: String,
    started: Instant,
}

impl std::fmt::Debug for PendingLogin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PendingLogin")
            .field("redirect_uri", &self.redirect_uri)
            .finish_non_exhaustive()
    }
}

impl PendingLogin {
    /// Whether this login has waited longer than `timeout`.
    pub fn expired(&self, timeout: Duration) -> bool {
        self.started.elapsed() > timeout
    }

    /// Constant-time check of a returned `state`.
    pub fn state_matches(&self, state: &str) -> bool {
        bool::from(self.state.as_bytes().ct_eq(state.as_bytes()))
    }
}

/// A completed login.
#[derive(Clone)]
pub struct Login {
    pub access_token: String,
    pub refresh_token: Option<String>,
    /// Epoch milliseconds.
    pub expires_at: Option<u64>,
    pub scopes: Vec<String>,
    pub subscription_type: Option<String>,
    pub account: Account,
}

impl Login {
    /// `a@b.c (max)`, or what is known of it.
    pub fn who(&self) -> String {
        let email = self
            .account
            .email
            .as_deref()
            .unwrap_or("your Claude account");
        match &self.subscription_type {
            Some(sub) => format!("{email} ({sub})"),
            None => email.to_string(),
        }
    }
}

/// Why a login did not complete.
#[derive(Debug, Clone, thiserror::Error)]
pub enum LoginError {
    #[error("the login answer does not belong to this login (state mismatch); start again with `ccproxy auth login`")]
    StateMismatch,
    #[error("no login is in progress (or it expired); start again")]
    NoPendingLogin,
    #[error("the authorization was refused: {0}")]
    Denied(String),
    #[error("the authorization code was rejected ({0}); codes work once and expire quickly — start again")]
    CodeRejected(String),
    #[error("the token endpoint failed: {0}")]
    Endpoint(String),
    #[error(
        "no answer from the browser within {0} s; run `ccproxy auth login` again (or use --manual)"
    )]
    TimedOut(u64),
    #[error("could not save the credentials to {path}: {reason} (the previous credentials are unchanged)")]
    Save { path: String, reason: String },
    #[error("malformed login answer: {0}")]
    Malformed(String),
    #[error("{0}")]
    Other(String),
}

/// Starts a login that will come back to `redirect_uri`.
pub fn begin(oauth: &OAuthConfig, redirect_uri: &str) -> Result<PendingLogin, LoginError> {
    // The verifier and `state`: 32 random bytes each, base64url without padding.
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let state = CsrfToken::new_random_len(32).secret().clone();
    let url = url::Url::parse_with_params(
        &oauth.authorize_url,
        [
            ("code", "true"),
            ("client_id", oauth.client_id.as_str()),
            ("response_type", "code"),
            ("redirect_uri", redirect_uri),
            ("scope", oauth.scopes.as_str()),
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
            ("state", state.as_str()),
        ],
    )
    .map_err(|e| LoginError::Other(format!("invalid oauth.authorize_url: {e}")))?;
    Ok(PendingLogin {
        state,
        verifier: verifier.secret().clone(),
        redirect_uri: redirect_uri.to_string(),
        authorize_url: url.to_string(),
        started: Instant::now(),
    })
}

/// Splits what a user pasted in the manual flow: `code` or `code#state`.
pub fn parse_pasted(input: &str) -> (String, Option<String>) {
    let input = input.trim();
    match input.split_once('#') {
        Some((code, state)) => (code.to_string(), Some(state.to_string())),
        None => (input.to_string(), None),
    }
}

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
    #[serde(default)]
    refresh_token: Option<String>,
    #[serde(default)]
    expires_in: Option<u64>,
    #[serde(default)]
    scope: Option<String>,
    #[serde(default)]
    account: Option<AccountAnswer>,
    #[serde(default)]
    organization: Option<Uuid>,
}

#[derive(Deserialize)]
struct AccountAnswer {
    #[serde(default)]
    uuid: Option<String>,
    #[serde(default)]
    email_address: Option<String>,
}

#[derive(Deserialize)]
struct Uuid {
    #[serde(default)]
    uuid: Option<String>,
}

fn endpoint_error(e: &reqwest::Error) -> LoginError {
    if e.is_timeout() {
        LoginError::Endpoint("no answer in time".into())
    } else {
        LoginError::Endpoint(format!("unreachable: {e}"))
    }
}

/// Checks `state` (when the answer carries one), exchanges `code` and fetches the profile.
pub async fn finish(
    http: &reqwest::Client,
    oauth: &OAuthConfig,
    pending: &PendingLogin,
    code: &str,
    state: Option<&str>,
) -> Result<Login, LoginError> {
    if let Some(state) = state {
        if !pending.state_matches(state) {
            return Err(LoginError::StateMismatch);
        }
    }
    if pending.expired(Duration::from_secs(oauth.login_timeout_secs)) {
        return Err(LoginError::TimedOut(oauth.login_timeout_secs));
    }
    if code.is_empty() {
        return Err(LoginError::CodeRejected("empty code".into()));
    }
    let timeout = Duration::from_secs(oauth.request_timeout_secs);
    let response = http
        .post(&oauth.token_url)
        .timeout(timeout)
        .json(&json!({
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": pending.redirect_uri,
            "client_id": oauth.client_id,
            "code_verifier": pending.verifier,
            "state": pending.state,
        }))
        .send()
        .await
        .map_err(|e| endpoint_error(&e))?;
    let status = response.status();
    let body = response.bytes().await.map_err(|e| endpoint_error(&e))?;
    if !status.is_success() {
        let code = serde_json::from_slice::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v.get("error").cloned())
            .map(|e| match e {
                serde_json::Value::String(s) => s,
                other => other
                    .get("type")
                    .and_then(|t| t.as_str())
                    .unwrap_or("error")
                    .to_string(),
            })
            .unwrap_or_default();
        return Err(match (status.as_u16(), code.as_str()) {
            (_, "invalid_grant") => LoginError::CodeRejected(code),
            (400, _) if !code.is_empty() => LoginError::CodeRejected(code),
            _ => LoginError::Endpoint(format!(
                "answered {status}{}",
                if code.is_empty() {
                    String::new()
                } else {
                    format!(" ({code})")
                }
            )),
        });
    }
    let answer: TokenAnswer = serde_json::from_slice(&body)
        .map_err(|e| LoginError::Endpoint(format!("unexpected answer: {e}")))?;
    let scopes: Vec<String> = answer
        .scope
        .as_deref()
        .unwrap_or(&oauth.scopes)
        .split_whitespace()
        .map(String::from)
        .collect();
    let mut login = Login {
        expires_at: answer
            .expires_in
            .map(|s| crate::clock::unix_ms().saturating_add(s.saturating_mul(1000))),
        refresh_token: answer.refresh_token.filter(|r| !r.is_empty()),
        subscription_type: None,
        account: Account {
            email: answer
                .account
                .as_ref()
                .and_then(|a| a.email_address.clone()),
            account_uuid: answer.account.as_ref().and_then(|a| a.uuid.clone()),
            organization_uuid: answer.organization.and_then(|o| o.uuid),
        },
        access_token: answer.access_token,
        scopes,
    };
    if login.scopes.iter().any(|s| s == "user:profile") {
        match profile(http, oauth, &login.access_token).await {
            Ok(p) => {
                login.subscription_type = p.subscription_type;
                if p.email.is_some() {
                    login.account.email = p.email;
                }
            }
            Err(e) => tracing::warn!("could not read the account profile: {e}"),
        }
    }
    Ok(login)
}

/// What the profile endpoint says about an account.
pub struct Profile {
    pub email: Option<String>,
    /// `max`, `pro`, `team`, `enterprise`, or what upstream calls it.
    pub subscription_type: Option<String>,
}

/// Why a call to an OAuth endpoint (profile, revoke) failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum EndpointError {
    /// It could not be reached, or its answer could not be read.
    #[error("{0}")]
    Transport(String),
    /// It answered with an error status.
    #[error("{endpoint} endpoint answered {status}")]
    Status {
        endpoint: &'static str,
        status: reqwest::StatusCode,
    },
}

/// Reported (in `POST /oauth/logout`'s answer) as its message.
impl serde::Serialize for EndpointError {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl From<reqwest::Error> for EndpointError {
    fn from(e: reqwest::Error) -> Self {
        Self::Transport(e.to_string())
    }
}

/// Reads the account's email and subscription with an access token.
pub async fn profile(
    http: &reqwest::Client,
    oauth: &OAuthConfig,
    access_token: &str,
) -> Result<Profile, EndpointError> {
    let response = http
        .get(&oauth.profile_url)
        .timeout(Duration::from_secs(oauth.request_timeout_secs))
        .bearer_auth(access_token)
        .header("anthropic-beta", "oauth-2025-04-20")
        .send()
        .await?;
    if !response.status().is_success() {
        return Err(EndpointError::Status {
            endpoint: "profile",
            status: response.status(),
        });
    }
    let v: serde_json::Value = response.json().await?;
    let account = &v["account"];
    let email = account["email"]
        .as_str()
        .or_else(|| account["email_address"].as_str())
        .map(String::from);
    let org_type = v["organization"]["organization_type"].as_str();
    let subscription_type = match org_type {
        Some(t) => Some(t.strip_prefix("claude_").unwrap_or(t).to_string()),
        None if account["has_claude_max"] == true => Some("max".into()),
        None if account["has_claude_pro"] == true => Some("pro".into()),
        None => None,
    };
    Ok(Profile {
        email,
        subscription_type,
    })
}

/// Stores `login` as CCProxy's login in `store` (files: atomically, mode 0600; other keys kept).
pub fn save(store: &Store, login: &Login) -> Result<(), LoginError> {
    let failed = |e: StoreError| LoginError::Save {
        path: store.describe(),
        reason: e.to_string(),
    };
    let existing = store.read().map_err(failed)?;
    let doc = file::login_document(
        existing.as_deref(),
        &NewLogin {
            access_token: &login.access_token,
            refresh_token: login.refresh_token.as_deref(),
            expires_at: login.expires_at,
            scopes: &login.scopes,
            subscription_type: login.subscription_type.as_deref(),
            account: &login.account,
        },
    );
    store.write(&doc).map_err(failed)
}

/// Revokes a token at `oauth.revoke_url` (best effort: the caller decides what a failure means).
pub async fn revoke(
    http: &reqwest::Client,
    oauth: &OAuthConfig,
    token: &str,
    hint: &str,
) -> Result<(), EndpointError> {
    let response = http
        .post(&oauth.revoke_url)
        .timeout(Duration::from_secs(oauth.request_timeout_secs))
        .json(&json!({"token": token, "token_type_hint": hint, "client_id": oauth.client_id}))
        .send()
        .await?;
    if response.status().is_success() {
        Ok(())
    } else {
        Err(EndpointError::Status {
            endpoint: "revoke",
            status: response.status(),
        })
    }
}

/// What [`logout`] did.
#[derive(Debug, serde::Serialize)]
pub struct LogoutReport {
    /// The store emptied (a path or `keychain:…`), if it held a login.
    pub removed: Option<String>,
    /// Whether the tokens were revoked at the server.
    pub revoked: bool,
    /// Why revocation failed, if it did.
    pub revoke_error: Option<EndpointError>,
}

/// Revokes the tokens of CCProxy's login in `store` (best effort) and removes it. Never touches
/// any other store (Claude Code's login is Claude Code's).
pub async fn logout(
    http: &reqwest::Client,
    oauth: &OAuthConfig,
    store: &Store,
) -> Result<LogoutReport, LoginError> {
    let Some(bytes) = store.read().map_err(|e| LoginError::Other(e.to_string()))? else {
        return Ok(LogoutReport {
            removed: None,
            revoked: false,
            revoke_error: None,
        });
    };
    let entry = file::parse(&bytes).ok().flatten();
    let mut revoke_error = None;
    let mut revoked = false;
    if let Some((entry, _)) = &entry {
        let (token, hint) = match &entry.refresh_token {
            Some(refresh) => (refresh.as_str(), "refresh_token"),
            None => (entry.access_token.as_str(), "access_token"),
        };
        match revoke(http, oauth, token, hint).await {
            Ok(()) => revoked = true,
            Err(e) => revoke_error = Some(e),
        }
    }
    store
        .remove()
        .map_err(|e| LoginError::Other(format!("cannot remove {}: {e}", store.describe())))?;
    if let Some(lock) = store.lock_path() {
        let _ = std::fs::remove_file(lock);
    }
    Ok(LogoutReport {
        removed: Some(store.describe()),
        revoked,
        revoke_error,
    })
}

/// The query of a redirect back from the authorize page.
#[derive(Debug, Default, Deserialize)]
pub struct Callback {
    pub code: Option<String>,
    pub state: Option<String>,
    pub error: Option<String>,
    pub error_description: Option<String>,
}

impl Callback {
    /// The provider's refusal, if the redirect carries one.
    pub fn denial(&self) -> Option<LoginError> {
        self.error.as_ref().map(|e| {
            LoginError::Denied(match &self.error_description {
                Some(d) => format!("{e}: {d}"),
                None => e.clone(),
            })
        })
    }
}

/// A small page for the browser at the end of a login.
pub fn page(ok: bool, message: &str) -> Html<String> {
    let escaped = message
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;");
    let (title, color) = if ok {
        ("Logged in", "#15803d")
    } else {
        ("Login failed", "#b91c1c")
    };
    Html(format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>CCProxy — {title}</title>\
         <meta name=\"viewport\" content=\"width=device-width\"><style>body{{font-family:system-ui,sans-serif;\
         max-width:32rem;margin:4rem auto;padding:0 1rem;color-scheme:light dark}}h1{{color:{color}}}</style>\
         </head><body><h1>{title}</h1><p>{escaped}</p><p>You can close this tab.</p></body></html>"
    ))
}

struct LoopbackState {
    pending: PendingLogin,
    oauth: OAuthConfig,
    http: reqwest::Client,
    save_to: Store,
    done: mpsc::Sender<Result<Login, LoginError>>,
    finished: Mutex<bool>,
}

async fn loopback_callback(
    State(state): State<Arc<LoopbackState>>,
    Query(query): Query<Callback>,
) -> impl IntoResponse {
    let mut finished = state.finished.lock().await;
    if *finished {
        return (
            StatusCode::CONFLICT,
            page(false, "This login is already complete."),
        );
    }
    // A redirect without our state is not an answer to this login: refuse it, keep waiting.
    let state_ok = query
        .state
        .as_deref()
        .is_some_and(|s| state.pending.state_matches(s));
    if !state_ok {
        return (
            StatusCode::BAD_REQUEST,
            page(false, &LoginError::StateMismatch.to_string()),
        );
    }
    let result = match (query.denial(), query.code.as_deref()) {
        (Some(denied), _) => Err(denied),
        (None, None) => Err(LoginError::CodeRejected("no code in the redirect".into())),
        (None, Some(code)) => {
            match finish(
                &state.http,
                &state.oauth,
                &state.pending,
                code,
                query.state.as_deref(),
            )
            .await
            {
                Ok(login) => save(&state.save_to, &login).map(|()| login),
                Err(e) => Err(e),
            }
        }
    };
    *finished = true;
    let answer = match &result {
        Ok(login) => (
            StatusCode::OK,
            page(
                true,
                &format!(
                    "Logged in as {}. CCProxy can use your subscription now.",
                    login.who()
                ),
            ),
        ),
        Err(e) => (StatusCode::BAD_REQUEST, page(false, &e.to_string())),
    };
    let _ = state.done.send(result).await;
    answer
}

/// The default CLI login: a callback listener on `127.0.0.1:port` (0: any free port), the
/// authorize URL handed to `show` (which opens or prints it), then waits up to
/// `oauth.login_timeout_secs` for the browser to come back. The login is saved to `save_to`.
pub async fn loopback(
    http: &reqwest::Client,
    oauth: &OAuthConfig,
    port: u16,
    save_to: &Store,
    show: impl FnOnce(&str),
) -> Result<Login, LoginError> {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .map_err(|e| {
            LoginError::Other(format!(
                "cannot listen on 127.0.0.1:{port} for the login callback: {e}"
            ))
        })?;
    let port = listener
        .local_addr()
        .map_err(|e| LoginError::Other(e.to_string()))?
        .port();
    let pending = begin(oauth, &format!("http://localhost:{port}/callback"))?;
    let url = pending.authorize_url.clone();
    let (done, mut result) = mpsc::channel(1);
    let state = Arc::new(LoopbackState {
        pending,
        oauth: oauth.clone(),
        http: http.clone(),
        save_to: save_to.clone(),
        done,
        finished: Mutex::new(false),
    });
    let app = axum::Router::new()
        .route("/callback", axum::routing::get(loopback_callback))
        .with_state(state);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    // Owned: stopped and awaited below.
    #[allow(clippy::disallowed_methods)]
    let server = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .await
    });
    show(&url);
    let outcome =
        tokio::time::timeout(Duration::from_secs(oauth.login_timeout_secs), result.recv()).await;
    let _ = stop.send(());
    let _ = server.await;
    match outcome {
        Ok(Some(result)) => result,
        Ok(None) => Err(LoginError::Other("the callback listener stopped".into())),
        Err(_) => Err(LoginError::TimedOut(oauth.login_timeout_secs)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authorize_url_carries_every_parameter() {
        let oauth = OAuthConfig::default();
        let p = begin(&oauth, "http://localhost:1234/callback").unwrap();
        let url = url::Url::parse(&p.authorize_url).unwrap();
        let q: std::collections::HashMap<_, _> = url.query_pairs().into_owned().collect();
        assert_eq!(q["code"], "true");
        assert_eq!(q["client_id"], oauth.client_id);
        assert_eq!(q["response_type"], "code");
        assert_eq!(q["redirect_uri"], "http://localhost:1234/callback");
        assert_eq!(q["scope"], oauth.scopes);
        assert_eq!(q["code_challenge_method"], "S256");
        assert_eq!(q["code_challenge"].len(), 43);
        assert_eq!(q["state"], p.state);
        assert_eq!(p.state.len(), 43, "32 random bytes, base64url");
        assert_eq!(p.verifier.len(), 43);
        assert!(p.state_matches(&p.state.clone()));
        assert!(!p.state_matches("other"));
        assert!(!format!("{p:?}").contains(&p.state));
    }

    #[test]
    fn pasted_codes() {
        assert_eq!(
            parse_pasted(" abc#xyz \n"),
            ("abc".into(), Some("xyz".into()))
        );
        assert_eq!(parse_pasted("abc"), ("abc".into(), None));
    }

    #[test]
    fn pages_escape_messages() {
        let Html(body) = page(false, "<script>x</script>");
        assert!(!body.contains("<script>x"));
        assert!(body.contains("&lt;script&gt;"));
    }
}
