//! The OAuth refresh call: a JSON `{"grant_type":"refresh_token","refresh_token","client_id",
//! "scope"}` grant against `oauth.token_url`. The answer may omit `refresh_token` (the old one
//! stays); refresh tokens rotate, and `invalid_grant` means the login is dead.
//!
//! The endpoint takes a JSON body rather than the form encoding the `oauth2` crate sends, so
//! this one request is made with the shared `reqwest` client.

use crate::config::OAuthConfig;
use serde::Deserialize;
use serde_json::json;

/// A successful refresh.
#[derive(Deserialize)]
pub struct TokenResponse {
    pub access_token: String,
    /// Absent when the server keeps the old refresh token.
    #[serde(default)]
    pub refresh_token: Option<String>,
    #[serde(default)]
    pub expires_in: Option<u64>,
    #[serde(default)]
    pub scope: Option<String>,
}

/// Why a refresh failed.
#[derive(Debug, thiserror::Error)]
pub enum RefreshError {
    /// The refresh token is dead (`invalid_grant`): only a new login helps.
    #[error("the refresh token was rejected (invalid_grant)")]
    InvalidGrant,
    /// Anything else; worth trying again later.
    #[error("{0}")]
    Failed(String),
}

#[derive(Deserialize)]
struct ErrorBody {
    error: Option<serde_json::Value>,
}

/// Exchanges `refresh_token` for new tokens.
pub async fn refresh(
    http: &reqwest::Client,
    oauth: &OAuthConfig,
    refresh_token: &str,
) -> Result<TokenResponse, RefreshError> {
    let response = http
        .post(&oauth.token_url)
        .timeout(std::time::Duration::from_secs(oauth.request_timeout_secs))
        .json(&json!({
            "grant_type": "refresh_token",
            "refresh_token": refresh_token,
            "client_id": oauth.client_id,
            "scope": oauth.scopes,
        }))
        .send()
        .await
        .map_err(|e| RefreshError::Failed(format!("token endpoint unreachable: {e}")))?;
    let status = response.status();
    let body = response
        .bytes()
        .await
        .map_err(|e| RefreshError::Failed(format!("reading the token response: {e}")))?;
    if status.is_success() {
        return serde_json::from_slice(&body)
            .map_err(|e| RefreshError::Failed(format!("unexpected token response: {e}")));
    }
    let error = serde_json::from_slice::<ErrorBody>(&body)
        .ok()
        .and_then(|b| b.error);
    let code = match &error {
        Some(serde_json::Value::String(s)) => s.as_str(),
        Some(v) => v.get("type").and_then(|t| t.as_str()).unwrap_or(""),
        None => "",
    };
    if code == "invalid_grant" {
        return Err(RefreshError::InvalidGrant);
    }
    Err(RefreshError::Failed(format!(
        "token endpoint answered {status}{}",
        if code.is_empty() {
            String::new()
        } else {
            format!(" ({code})")
        }
    )))
}
