//! The one pooled HTTP client to the Anthropic API, and the request/response rewriting of API
//! mode: credentials swapped, betas merged, everything else passed through. What upstream
//! requires of a subscription (OAuth) token: `Authorization: Bearer` and no `x-api-key`,
//! `anthropic-version` (the client's, else `2023-06-01`), and `oauth-2025-04-20` among the
//! betas (without it: 401 "OAuth authentication is currently not supported.").
//!
//! Responses are never buffered: the status and headers are returned as soon as upstream sends
//! them and the body is forwarded chunk by chunk as it arrives. Dropping the returned body (a
//! client that went away) drops the upstream response, which closes its connection.

use crate::billing::Bucket;
use crate::config::Config;
use crate::credentials::{CredentialError, Token};
use crate::error::ApiError;
use crate::quota::Quota;
use crate::record::{BodyKind, DraftCell};
use crate::state::AppState;
use crate::version_floor::{Side, VersionFloor};
use axum::body::Body;
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use ccproxy_protocol::anthropic::beta::merge_betas;
use ccproxy_protocol::error::{anthropic_error_event, ErrorKind};
use futures_util::StreamExt;
use std::time::Duration;

/// The API version sent when the client sends none.
pub const ANTHROPIC_VERSION: &str = "2023-06-01";

/// Builds the shared client: rustls, HTTP/2 where upstream offers it, connection pooling,
/// connect and read timeouts, `HTTPS_PROXY`/`NO_PROXY` honoured.
pub fn client(config: &Config) -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder()
        .user_agent(concat!("ccproxy/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(Duration::from_secs(config.claude.connect_timeout_secs))
        .read_timeout(Duration::from_secs(config.claude.read_timeout_secs))
        .pool_idle_timeout(Duration::from_secs(90))
        .tcp_nodelay(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
}

/// Hop-by-hop headers (RFC 9110 §7.6.1) and ones the proxy sets itself.
fn is_hop_by_hop(name: &HeaderName) -> bool {
    matches!(
        name.as_str(),
        "connection"
            | "keep-alive"
            | "proxy-connection"
            | "proxy-authenticate"
            | "proxy-authorization"
            | "te"
            | "trailer"
            | "transfer-encoding"
            | "upgrade"
    )
}

/// Headers to send upstream: the client's, minus hop-by-hop, `host`, `content-length` and the
/// client's own credentials; plus the OAuth bearer, `anthropic-version` and merged betas.
pub fn request_headers(client: &HeaderMap, token: &Token) -> HeaderMap {
    let mut out = HeaderMap::with_capacity(client.len() + 3);
    for (name, value) in client {
        if is_hop_by_hop(name)
            || matches!(
                name.as_str(),
                "host" | "content-length" | "x-api-key" | "authorization" | "anthropic-beta"
            )
        {
            continue;
        }
        out.append(name.clone(), value.clone());
    }
    if let Ok(mut bearer) = HeaderValue::try_from(format!("Bearer {}", token.access_token())) {
        bearer.set_sensitive(true);
        out.insert(header::AUTHORIZATION, bearer);
    }
    if !out.contains_key("anthropic-version") {
        out.insert(
            "anthropic-version",
            HeaderValue::from_static(ANTHROPIC_VERSION),
        );
    }
    let betas = merge_betas(
        client
            .get_all("anthropic-beta")
            .iter()
            .filter_map(|v| v.to_str().ok()),
    );
    if let Ok(betas) = HeaderValue::try_from(betas) {
        out.insert("anthropic-beta", betas);
    }
    out
}

/// Sends one request upstream; transport failures become 502/504 in Anthropic's shape.
pub async fn send(
    http: &reqwest::Client,
    method: Method,
    url: reqwest::Url,
    headers: HeaderMap,
    body: Bytes,
) -> Result<reqwest::Response, ApiError> {
    http.request(method, url)
        .headers(headers)
        .body(body)
        .send()
        .await
        .map_err(|e| transport_error(&e))
}

fn transport_error(e: &reqwest::Error) -> ApiError {
    // `reqwest::Error`'s Display names the URL only, never headers, so this is safe to show.
    let mut detail = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        detail.push_str(": ");
        detail.push_str(&s.to_string());
        source = s.source();
    }
    if e.is_timeout() {
        ApiError::new(ErrorKind::Timeout, format!("upstream timed out: {detail}"))
    } else {
        ApiError::new(
            ErrorKind::BadGateway,
            format!("upstream request failed: {detail}"),
        )
    }
}

/// Upstream's headers minus the hop-by-hop ones: what is passed on to the client.
fn end_to_end_headers(upstream: &reqwest::Response) -> HeaderMap {
    let mut headers = HeaderMap::with_capacity(upstream.headers().len());
    for (name, value) in upstream.headers() {
        if !is_hop_by_hop(name) {
            headers.append(name.clone(), value.clone());
        }
    }
    headers
}

/// Like [`response`], except that an error answer (a small, uncompressed 4xx) is read first:
/// one whose text says the request needs or draws extra usage is marked so in
/// `x-ccproxy-billing` (and the record), and upstream's "Claude Code version too old" answer
/// gets a message that says what to update (its `details` kept; the version asked for is
/// remembered, and the record names the error). Every other byte goes as upstream sent it.
pub async fn response_explained(
    state: &AppState,
    upstream: reqwest::Response,
    draft: Option<DraftCell>,
) -> Response {
    if !upstream.status().is_client_error()
        || upstream.headers().contains_key(header::CONTENT_ENCODING)
    {
        return response(upstream, draft);
    }
    let status = upstream.status().as_u16();
    let mut headers = end_to_end_headers(&upstream);
    let bytes = match upstream.bytes().await {
        Ok(b) => b,
        Err(e) => return transport_error(&e).into_response(),
    };
    if let Some(d) = &draft {
        d.with(|d| {
            d.upstream_kind = Some(BodyKind::Json);
            d.keep(&bytes);
        });
    }
    let text = String::from_utf8_lossy(&bytes);
    if let Some(bucket) = Bucket::of_error(&text) {
        headers.insert(
            crate::billing::HEADER,
            HeaderValue::from_static(bucket.as_str()),
        );
        if let Some(d) = &draft {
            d.with(|d| d.bucket = Some(bucket));
        }
    }
    let floor = VersionFloor::find(&text);
    let body = match floor {
        Some(floor) => {
            let mut v: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
            v["error"]["message"] = floor.explain(Side::Client).into();
            tracing::warn!("upstream refused the client's Claude Code version: {floor:?}");
            state.version_floor.note(Side::Client, floor);
            if let Some(d) = &draft {
                d.with(|d| d.error_type = Some(crate::version_floor::ERROR_CODE.into()));
            }
            headers.remove(header::CONTENT_LENGTH);
            Bytes::from(v.to_string())
        }
        None => bytes,
    };
    let mut out = Response::new(Body::from(body));
    *out.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
    *out.headers_mut() = headers;
    out
}

/// Turns the upstream response into ours: same status, headers (minus hop-by-hop) and body,
/// streamed. If an event stream breaks midway, an Anthropic `error` event ends it so the client
/// sees why instead of a silently truncated stream.
///
/// The chunks are also handed (reference-counted, not copied) to the request's draft, which
/// reads usage from them after the request is over.
pub fn response(upstream: reqwest::Response, draft: Option<DraftCell>) -> Response {
    let status =
        StatusCode::from_u16(upstream.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
    let mut headers = end_to_end_headers(&upstream);
    let event_stream = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/event-stream"));
    if let Some(d) = &draft {
        d.with(|d| {
            d.upstream_kind = Some(if event_stream {
                BodyKind::Sse
            } else {
                BodyKind::Json
            })
        });
    }
    let body = if event_stream {
        // An error event may be appended, so the length is not known in advance.
        headers.remove(header::CONTENT_LENGTH);
        // The first error ends the stream: a timed-out body answers every later poll with the
        // same error, so it must not be polled again.
        let chunks = upstream.bytes_stream();
        Body::from_stream(futures_util::stream::unfold(
            Some((chunks, draft)),
            |state| async move {
                let (mut chunks, draft) = state?;
                match chunks.next().await? {
                    Ok(bytes) => {
                        if let Some(d) = &draft {
                            d.with(|d| d.keep(&bytes));
                        }
                        Some((Ok::<_, std::io::Error>(bytes), Some((chunks, draft))))
                    }
                    Err(e) => {
                        tracing::warn!("upstream stream broke: {}", transport_error(&e));
                        let event = if e.is_timeout() {
                            anthropic_error_event(
                                ErrorKind::Timeout,
                                "upstream sent nothing within the read time-out \
                                 (claude.read_timeout_secs); the stream is cut",
                            )
                        } else {
                            anthropic_error_event(
                                ErrorKind::BadGateway,
                                "the upstream stream ended unexpectedly",
                            )
                        };
                        Some((Ok(Bytes::from(event)), None))
                    }
                }
            },
        ))
    } else {
        Body::from_stream(upstream.bytes_stream().inspect(move |chunk| {
            if let (Some(d), Ok(bytes)) = (&draft, chunk) {
                d.with(|d| d.keep(bytes));
            }
        }))
    };
    let mut response = Response::new(body);
    *response.status_mut() = status;
    *response.headers_mut() = headers;
    response
}

/// Sends a request upstream (`method` and `path_and_query` on the API's base URL) with the OAuth token, refreshing and resending once on a
/// 401. Returns upstream's response as is; the request's draft learns upstream's status, request
/// id and quota reading (which also becomes the latest for `/api/quota`).
pub async fn call(
    state: &AppState,
    draft: Option<&DraftCell>,
    method: Method,
    headers: &HeaderMap,
    path_and_query: &str,
    body: Bytes,
) -> Result<reqwest::Response, ApiError> {
    let mut sent = match send_with_refresh(state, method, headers, path_and_query, body).await {
        Ok(sent) => sent,
        Err(e) => {
            if e.kind == ErrorKind::Authentication {
                state.alerts.on_login_problem(&e.message);
            }
            return Err(e);
        }
    };
    if sent.status() != reqwest::StatusCode::UNAUTHORIZED {
        state.alerts.on_login_ok();
    }
    let quota = Quota::from_headers(sent.headers(), crate::clock::unix_ms() as i64);
    let bucket = quota.as_ref().map(|q| state.note_quota(q));
    // Who paid, as upstream's headers say, for the client too (`x-ccproxy-billing`).
    sent.headers_mut().insert(
        crate::billing::HEADER,
        HeaderValue::from_static(bucket.unwrap_or(Bucket::Unknown).as_str()),
    );
    if let Some(d) = draft {
        let request_id = sent
            .headers()
            .get("request-id")
            .and_then(|v| v.to_str().ok())
            .map(String::from);
        let status = sent.status().as_u16();
        d.with(|d| {
            d.upstream_status = Some(status);
            d.upstream_request_id = request_id;
            d.quota = quota;
            d.bucket = bucket;
        });
    }
    Ok(sent)
}

/// The upstream URL for `path_and_query`: the base URL parsed at start with its path extended
/// and the query set — a whole parse per request would redo the scheme and the host (with its
/// IDNA mapping), the larger part of it.
fn target_url(base: &reqwest::Url, path_and_query: &str) -> reqwest::Url {
    let (path, query) = match path_and_query.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (path_and_query, None),
    };
    let mut url = base.clone();
    match base.path().trim_end_matches('/') {
        "" => url.set_path(path),
        prefix => url.set_path(&format!("{prefix}{path}")),
    }
    url.set_query(query);
    url
}

async fn send_with_refresh(
    state: &AppState,
    method: Method,
    headers: &HeaderMap,
    path_and_query: &str,
    body: Bytes,
) -> Result<reqwest::Response, ApiError> {
    let url = target_url(&state.upstream_base, path_and_query);

    let token = state.credentials.token().await?;
    let sent = send(
        &state.http,
        method.clone(),
        url,
        request_headers(headers, &token),
        body.clone(),
    )
    .await?;
    if sent.status() != StatusCode::UNAUTHORIZED {
        return Ok(sent);
    }

    // Upstream rejected the token: refresh once (shared with concurrent callers) and resend.
    let fresh = match state.credentials.token_after_rejection(&token).await {
        Ok(fresh) => fresh,
        Err(e @ CredentialError::LoginDead) => return Err(e.into()),
        Err(e) => {
            tracing::warn!("upstream rejected the token and no refresh was possible: {e}");
            return Ok(sent);
        }
    };
    // Redirects are off, so the answer's URL is the one sent.
    let url = sent.url().clone();
    drop(sent);
    send(
        &state.http,
        method,
        url,
        request_headers(headers, &fresh),
        body,
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::target_url;

    #[test]
    fn target_url_extends_the_base_path_and_sets_the_query() {
        let url = |base: &str, target: &str| {
            target_url(&reqwest::Url::parse(base).unwrap(), target).to_string()
        };
        assert_eq!(
            url("https://api.anthropic.com", "/v1/messages?beta=true"),
            "https://api.anthropic.com/v1/messages?beta=true"
        );
        assert_eq!(
            url("http://127.0.0.1:9/prefix/", "/v1/messages"),
            "http://127.0.0.1:9/prefix/v1/messages"
        );
        assert_eq!(
            url("http://127.0.0.1:9/prefix", "/v1/files/a%2Fb?x=1&y"),
            "http://127.0.0.1:9/prefix/v1/files/a%2Fb?x=1&y"
        );
    }
}
