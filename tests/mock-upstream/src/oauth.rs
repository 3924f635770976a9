//! The OAuth side of the mock: the authorize page, the token endpoint (authorization code with
//! PKCE, rotating refresh tokens), the profile and revocation.

use super::*;

pub(crate) async fn token(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let rec = record(&shared, request).await;
    shared.token_calls.fetch_add(1, Ordering::SeqCst);
    let delay = shared.token_delay_ms.load(Ordering::Relaxed);
    if delay > 0 {
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }
    if shared.token_hang.load(Ordering::SeqCst) {
        std::future::pending::<()>().await;
    }
    let failure = *shared.token_failure.lock().expect("lock");
    if let Some(status) = failure {
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        return (
            status,
            json!({"error":"server_error","error_description":"mock failure"}).to_string(),
        )
            .into_response();
    }
    let body: Value = serde_json::from_slice(&rec.body).unwrap_or(Value::Null);
    if body["grant_type"] == "authorization_code" {
        return exchange_code(&shared, &body);
    }
    if body["grant_type"] != "refresh_token" {
        return (
            StatusCode::BAD_REQUEST,
            json!({"error":"unsupported_grant_type"}).to_string(),
        )
            .into_response();
    }
    let given = body["refresh_token"].as_str().unwrap_or("");
    let mut refresh = shared.refresh_token.lock().expect("lock");
    if refresh.as_deref() != Some(given) || given.is_empty() {
        return (
            StatusCode::BAD_REQUEST,
            [("content-type", "application/json")],
            json!({"error":"invalid_grant","error_description":"Invalid refresh token"})
                .to_string(),
        )
            .into_response();
    }
    let n = shared.rotation.fetch_add(1, Ordering::SeqCst) + 1;
    let access = format!("access-rotated-{n}");
    let new_refresh = format!("refresh-rotated-{n}");
    *refresh = Some(new_refresh.clone());
    *shared.access_token.lock().expect("lock") = Some(access.clone());
    (
        [("content-type", "application/json")],
        json!({
            "token_type": "Bearer",
            "access_token": access,
            "refresh_token": new_refresh,
            "expires_in": 28800,
            "scope": "user:inference user:profile",
            "account": {"uuid": "acc-1", "email_address": "user@example.com"},
            "organization": {"uuid": "org-1"}
        })
        .to_string(),
    )
        .into_response()
}

const CLIENT_ID: &str = "9d1c250a-e61b-44d9-88ed-5944d1962f5e";

fn invalid_grant(why: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        [("content-type", "application/json")],
        json!({"error":"invalid_grant","error_description":why}).to_string(),
    )
        .into_response()
}

/// The authorize page, approving at once: redirects to `redirect_uri` with a one-time code.
pub(crate) async fn authorize(
    State(shared): State<Arc<Shared>>,
    axum::extract::Query(q): axum::extract::Query<std::collections::HashMap<String, String>>,
) -> Response {
    let get = |k: &str| q.get(k).cloned().unwrap_or_default();
    if get("client_id") != CLIENT_ID
        || get("response_type") != "code"
        || get("code_challenge_method") != "S256"
        || get("code_challenge").is_empty()
        || get("redirect_uri").is_empty()
        || get("code") != "true"
    {
        return (StatusCode::BAD_REQUEST, "bad authorize request").into_response();
    }
    let redirect = get("redirect_uri");
    let state = get("state");
    let sep = if redirect.contains('?') { '&' } else { '?' };
    let location = match shared.authorize_error.lock().expect("lock").clone() {
        Some(error) => {
            format!("{redirect}{sep}error={error}&error_description=The+user+said+no&state={state}")
        }
        None => {
            let n = shared.code_counter.fetch_add(1, Ordering::SeqCst) + 1;
            let code = format!("code-{n}");
            shared.codes.lock().expect("lock").insert(
                code.clone(),
                (get("code_challenge"), redirect.clone(), get("scope")),
            );
            format!("{redirect}{sep}code={code}&state={state}")
        }
    };
    (StatusCode::FOUND, [("location", location)]).into_response()
}

fn exchange_code(shared: &Shared, body: &Value) -> Response {
    use base64::Engine;
    use sha2::Digest;
    let code = body["code"].as_str().unwrap_or("");
    // One use only: the code is gone after this, whatever the outcome.
    let Some((challenge, redirect, scope)) = shared.codes.lock().expect("lock").remove(code) else {
        return invalid_grant("unknown or used code");
    };
    let verifier = body["code_verifier"].as_str().unwrap_or("");
    let computed = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(sha2::Sha256::digest(verifier.as_bytes()));
    if computed != challenge {
        return invalid_grant("PKCE verification failed");
    }
    if body["redirect_uri"].as_str() != Some(redirect.as_str()) || body["client_id"] != CLIENT_ID {
        return invalid_grant("redirect_uri or client_id mismatch");
    }
    if body["state"].as_str().is_none_or(str::is_empty) {
        return invalid_grant("missing state");
    }
    let n = shared.rotation.fetch_add(1, Ordering::SeqCst) + 1;
    let access = format!("access-login-{n}");
    let refresh = format!("refresh-login-{n}");
    *shared.refresh_token.lock().expect("lock") = Some(refresh.clone());
    (
        [("content-type", "application/json")],
        json!({
            "token_type": "Bearer",
            "access_token": access,
            "refresh_token": refresh,
            "expires_in": 28800,
            "scope": scope,
            "account": {"uuid": "acc-1", "email_address": "user@example.com"},
            "organization": {"uuid": "org-1"}
        })
        .to_string(),
    )
        .into_response()
}

pub(crate) async fn profile(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let rec = record(&shared, request).await;
    if !rec.header("authorization").starts_with("Bearer access-") {
        return error(
            StatusCode::UNAUTHORIZED,
            "authentication_error",
            "invalid bearer token",
        );
    }
    (
        [("content-type", "application/json")],
        json!({
            "account": {"uuid": "acc-1", "email": "user@example.com", "display_name": "User", "has_claude_max": true},
            "organization": {"uuid": "org-1", "name": "Personal", "organization_type": "claude_max"}
        })
        .to_string(),
    )
        .into_response()
}

pub(crate) async fn revoke(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let rec = record(&shared, request).await;
    let body: Value = serde_json::from_slice(&rec.body).unwrap_or(Value::Null);
    if let Some(token) = body["token"].as_str() {
        shared.revoked.lock().expect("lock").push(token.to_string());
    }
    ([("content-type", "application/json")], "{}").into_response()
}
