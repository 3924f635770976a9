//! The login flow over HTTP, for the web UI: `GET /oauth/login` starts it, the browser comes back
//! to `GET /oauth/callback` (or `/callback`), `GET /oauth/status` tells where things stand,
//! `POST /oauth/logout` ends the login. The flow itself is [`crate::login`], shared with the CLI.

use crate::error::ApiError;
use crate::extract::ApiQuery;
use crate::login::{self, Callback, LoginError};
use crate::state::AppState;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Json;
use ccproxy_protocol::error::ErrorKind;
use serde::Deserialize;
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

/// Pending web logins kept at once; the oldest is dropped beyond this.
const MAX_PENDING: usize = 8;

#[derive(Deserialize, Default)]
pub struct LoginQuery {
    /// Use the manual redirect (the code is shown to the user, who pastes it back).
    #[serde(default)]
    manual: bool,
    /// Answer with a redirect to the authorize page instead of JSON.
    #[serde(default)]
    redirect: bool,
}

/// `GET /oauth/login[?manual=true][&redirect=true]`
pub async fn login(
    State(state): State<Arc<AppState>>,
    ApiQuery(query): ApiQuery<LoginQuery>,
) -> Result<Response, ApiError> {
    let oauth = &state.config.oauth;
    let redirect_uri = if query.manual {
        oauth.manual_redirect_uri.clone()
    } else {
        format!("http://localhost:{}/callback", state.addr.port())
    };
    let pending = login::begin(oauth, &redirect_uri)
        .map_err(|e| ApiError::new(ErrorKind::Internal, e.to_string()))?;
    let url = pending.authorize_url.clone();
    let answer = json!({
        "authorize_url": url,
        "state": pending.state,
        "redirect_uri": redirect_uri,
        "manual": query.manual,
        "expires_in_secs": oauth.login_timeout_secs,
    });
    let mut logins = state.logins.lock().await;
    let timeout = Duration::from_secs(oauth.login_timeout_secs);
    logins.retain(|l| !l.expired(timeout));
    if logins.len() >= MAX_PENDING {
        logins.remove(0);
    }
    logins.push(pending);
    drop(logins);
    if query.redirect {
        return Ok(Redirect::to(&url).into_response());
    }
    Ok(Json(answer).into_response())
}

fn wants_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/json"))
}

/// `GET /oauth/callback`, `GET /callback`: the browser back from the authorize page (or the web
/// UI with a pasted code: `?code=…&state=…`). Answers a page, or JSON when asked for.
pub async fn callback(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    query: Result<Query<Callback>, QueryRejection>,
) -> Response {
    let result = match query {
        Ok(Query(query)) => complete(&state, &query).await,
        Err(e) => Err(LoginError::Malformed(e.body_text())),
    };
    let json = wants_json(&headers);
    match result {
        Ok(who) => {
            let message = format!("Logged in as {who}. CCProxy can use your subscription now.");
            if json {
                Json(json!({"logged_in": true, "account": who, "message": message})).into_response()
            } else {
                login::page(true, &message).into_response()
            }
        }
        Err(e) => {
            tracing::warn!("login failed: {e}");
            let status = match e {
                LoginError::Endpoint(_) => StatusCode::BAD_GATEWAY,
                LoginError::Save { .. } | LoginError::Other(_) => StatusCode::INTERNAL_SERVER_ERROR,
                _ => StatusCode::BAD_REQUEST,
            };
            if json {
                (
                    status,
                    Json(json!({"logged_in": false, "error": e.to_string()})),
                )
                    .into_response()
            } else {
                (status, login::page(false, &e.to_string())).into_response()
            }
        }
    }
}

async fn complete(state: &AppState, query: &Callback) -> Result<String, LoginError> {
    let given = query.state.as_deref().ok_or(LoginError::StateMismatch)?;
    let pending = {
        let mut logins = state.logins.lock().await;
        let at = logins
            .iter()
            .position(|l| l.state_matches(given))
            .ok_or(LoginError::NoPendingLogin)?;
        logins.remove(at)
    };
    if let Some(denied) = query.denial() {
        return Err(denied);
    }
    let code = query.code.as_deref().unwrap_or_default();
    let oauth = &state.config.oauth;
    let login = login::finish(&state.http, oauth, &pending, code, Some(given)).await?;
    let store = state.config.ccproxy_store().ok_or_else(|| {
        LoginError::Other("no credentials file location (set auth.credentials_file)".into())
    })?;
    login::save(&store, &login)?;
    tracing::info!("logged in as {}", login.who());
    Ok(login.who())
}

/// `GET /oauth/status`
pub async fn status(State(state): State<Arc<AppState>>) -> Json<serde_json::Value> {
    let timeout = Duration::from_secs(state.config.oauth.login_timeout_secs);
    let pending = state
        .logins
        .lock()
        .await
        .iter()
        .filter(|l| !l.expired(timeout))
        .count();
    let credentials = state.credentials.status();
    let logged_in = matches!(credentials.state, "valid" | "expiring")
        || (credentials.state == "expired" && credentials.can_refresh);
    Json(json!({
        "login_pending": pending > 0,
        "logged_in": logged_in,
        "account_email": credentials.account_email,
        "subscription_type": credentials.subscription_type,
        "credentials": credentials,
    }))
}

/// `POST /oauth/logout`: revokes and removes CCProxy's own credentials.
pub async fn logout(
    State(state): State<Arc<AppState>>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let store = state
        .config
        .ccproxy_store()
        .ok_or_else(|| ApiError::new(ErrorKind::Internal, "no credentials file location"))?;
    let report = login::logout(&state.http, &state.config.oauth, &store)
        .await
        .map_err(|e| ApiError::new(ErrorKind::Internal, e.to_string()))?;
    let still = state.credentials.current().ok().map(|t| t.kind);
    Ok(Json(json!({
        "logged_out": report.removed.is_some(),
        "revoked": report.revoked,
        "revoke_error": report.revoke_error,
        "removed": report.removed,
        "remaining_source": still,
    })))
}
