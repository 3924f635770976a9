//! Request admission, the first thing every route runs: the `Host` check (DNS-rebinding
//! protection) and client authentication with `security.auth_token`. Each sub-router of
//! [`crate::routes`] says what its routes need ([`Gate`]); nothing here looks at paths.
//!
//! Host rule: IP literals (a rebinding attack always uses a DNS name), `localhost` and names
//! under `.localhost`, and the names in `server.allowed_hosts` (`*` admits any) are accepted;
//! anything else is 403. Auth rule: when a token is configured, every route behind
//! [`Gate::token`] requires it, as `x-api-key` (which takes precedence) or
//! `Authorization: Bearer`, compared in constant time. The public routes (health, the web UI's
//! page and assets, which hold no data, and the OAuth callback, protected by its `state`) don't.

use crate::error::{ApiError, ErrorShape};
use crate::record::DraftCell;
use crate::state::AppState;
use axum::extract::{MatchedPath, Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use ccproxy_protocol::error::ErrorKind;
use secrecy::ExposeSecret;
use std::net::IpAddr;
use std::sync::Arc;
use subtle::ConstantTimeEq;

/// The host name of a `Host` header value, without port or IPv6 brackets.
fn host_name(value: &str) -> &str {
    if let Some(rest) = value.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match value.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => value,
    }
}

/// Whether a request for `host` may be served.
pub fn host_allowed(host: &str, allowed: &[String]) -> bool {
    let name = host_name(host).trim_end_matches('.').to_ascii_lowercase();
    if name.parse::<IpAddr>().is_ok() || name == "localhost" || name.ends_with(".localhost") {
        return true;
    }
    allowed
        .iter()
        .any(|a| a == "*" || a.eq_ignore_ascii_case(&name))
}

/// The credential a client presented: `x-api-key` first, else a bearer token.
fn presented_token(headers: &axum::http::HeaderMap) -> Option<&[u8]> {
    if let Some(key) = headers.get("x-api-key") {
        return Some(key.as_bytes());
    }
    let value = headers.get(header::AUTHORIZATION)?.as_bytes();
    let (scheme, rest) = value.split_at(value.len().min(7));
    scheme
        .eq_ignore_ascii_case(b"bearer ")
        .then(|| rest.trim_ascii())
}

/// What a route requires of its caller, and the shape its refusals are answered in.
#[derive(Debug, Clone, Copy)]
pub struct Gate {
    pub token: bool,
    pub shape: ErrorShape,
}

impl Gate {
    /// The Host check only.
    pub const PUBLIC: Gate = Gate {
        token: false,
        shape: ErrorShape::Anthropic,
    };

    /// The Host check and the API token (when one is configured).
    pub const fn token(shape: ErrorShape) -> Gate {
        Gate { token: true, shape }
    }
}

/// Middleware for routes behind a [`Gate`] (its state is the server's and the gate): host
/// check, then client authentication. As the first thing every route runs, it also gives the request's draft (when observed) its route template.
pub async fn admit(
    State((state, gate)): State<(Arc<AppState>, Gate)>,
    request: Request,
    next: Next,
) -> Response {
    if let (Some(draft), Some(route)) = (
        request.extensions().get::<DraftCell>(),
        request.extensions().get::<MatchedPath>(),
    ) {
        draft.with(|d| d.route = Some(route.clone()));
    }
    match check(&state, gate, &request) {
        Ok(()) => next.run(request).await,
        Err(refused) => {
            let (parts, body) = request.into_parts();
            let limit = state.max_body_bytes();
            crate::body::answer_unread(limit, &parts.headers, body, refused.into_response()).await
        }
    }
}

/// The Host check, the cross-site check for requests that act, then (when `gate` asks for it and
/// a token is configured) the API token.
pub fn check(state: &AppState, gate: Gate, request: &Request) -> Result<(), ApiError> {
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| request.uri().authority().map(|a| a.as_str()));
    let host_ok = host.is_some_and(|h| host_allowed(h, &state.config.server.allowed_hosts));
    if !host_ok {
        return Err(ApiError::new(
            ErrorKind::Permission,
            "this Host is not allowed (DNS-rebinding protection); add it to server.allowed_hosts",
        )
        .in_shape(gate.shape));
    }
    if !request.method().is_safe() {
        cross_site(state, request).map_err(|e| e.in_shape(gate.shape))?;
    }
    let Some(expected) = state
        .config
        .security
        .auth_token
        .as_ref()
        .filter(|_| gate.token)
    else {
        return Ok(());
    };
    let presented = presented_token(request.headers());
    if presented.is_some_and(|given| bool::from(given.ct_eq(expected.expose_secret().as_bytes()))) {
        return Ok(());
    }
    let message = if presented.is_some() {
        "invalid API token for this ccproxy server"
    } else {
        "this ccproxy server requires an API token: send it as `x-api-key` or `Authorization: Bearer`"
    };
    Err(ApiError::new(ErrorKind::Authentication, message).in_shape(gate.shape))
}

/// Refuses a request that acts (any method but GET, HEAD, OPTIONS, TRACE) when a browser says it
/// comes from another site: its `Origin` is neither allowed (`server.cors_origins`) nor this
/// server's own, or — without an `Origin` — its `Sec-Fetch-Site` is `cross-site`. A page on any
/// site can send a "simple" POST to 127.0.0.1 without a preflight; it must not make the server
/// act. Non-browser clients send neither header and pass.
fn cross_site(state: &AppState, request: &Request) -> Result<(), ApiError> {
    let headers = request.headers();
    let refused = |what: &str| {
        Err(ApiError::new(
            ErrorKind::Permission,
            format!(
                "cross-site request refused: {what} (a web page may not make this server act; \
                 allow a trusted origin with server.cors_origins)"
            ),
        ))
    };
    if let Some(origin) = headers.get(header::ORIGIN) {
        let origin = origin.to_str().unwrap_or("");
        let host = headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("");
        let own = !host.is_empty()
            && origin
                .strip_prefix("http://")
                .or_else(|| origin.strip_prefix("https://"))
                .is_some_and(|o| o.eq_ignore_ascii_case(host));
        let allowed = state
            .config
            .server
            .cors_origins
            .iter()
            .any(|p| crate::cors::origin_matches(p, origin));
        return if own || allowed {
            Ok(())
        } else {
            refused(&format!("origin `{origin}` is not allowed"))
        };
    }
    if headers
        .get("sec-fetch-site")
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"cross-site"))
    {
        return refused("Sec-Fetch-Site is cross-site");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts() {
        let none: Vec<String> = vec![];
        for ok in [
            "127.0.0.1:8000",
            "localhost",
            "LOCALHOST:1",
            "[::1]:8000",
            "10.0.0.5",
            "app.localhost:3",
        ] {
            assert!(host_allowed(ok, &none), "{ok}");
        }
        for bad in [
            "evil.com",
            "evil.com:8000",
            "localhost.evil.com",
            "127.0.0.1.nip.io:80",
            "",
        ] {
            assert!(!host_allowed(bad, &none), "{bad}");
        }
        assert!(host_allowed("box.lan:8000", &["box.lan".into()]));
        assert!(host_allowed("anything", &["*".into()]));
    }

    #[test]
    fn tokens() {
        let mut h = axum::http::HeaderMap::new();
        assert_eq!(presented_token(&h), None);
        h.insert("authorization", "bEaReR  abc ".parse().unwrap());
        assert_eq!(presented_token(&h), Some(&b"abc"[..]));
        h.insert("x-api-key", "key".parse().unwrap());
        assert_eq!(presented_token(&h), Some(&b"key"[..]));
        let mut basic = axum::http::HeaderMap::new();
        basic.insert("authorization", "Basic abc".parse().unwrap());
        assert_eq!(presented_token(&basic), None);
    }
}
