//! Admission: client tokens, Host checks, CORS, body limits, malformed input.

use super::*;

#[tokio::test]
async fn client_token_is_required_when_configured() {
    let h = Harness::with(|c| c.security.auth_token = Some("local-token-123".into())).await;
    let msg = || {
        h.post(
            "/api/v1/messages",
            r#"{"model":"m","max_tokens":16,"messages":[]}"#,
        )
    };

    let m = expect_error(msg().send().await.unwrap(), 401, "authentication_error").await;
    assert!(m.contains("x-api-key"), "{m}");
    expect_error(
        msg().header("x-api-key", "wrong").send().await.unwrap(),
        401,
        "authentication_error",
    )
    .await;
    assert_eq!(
        msg()
            .header("x-api-key", "local-token-123")
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        msg()
            .bearer_auth("local-token-123")
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    // x-api-key takes precedence over a correct bearer token.
    let r = msg()
        .header("x-api-key", "wrong")
        .bearer_auth("local-token-123")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    // The local token never reaches upstream.
    for r in h.mock.requests() {
        assert_eq!(r.header("authorization"), "Bearer access-1");
        assert!(r.headers.get("x-api-key").is_none());
    }
    // Health is open; everything else is protected.
    assert_eq!(
        h.http.get(h.url("/health")).send().await.unwrap().status(),
        200
    );
    for path in ["/api/status", "/api/v1/models", "/api/models", "/nope"] {
        assert_eq!(
            h.http.get(h.url(path)).send().await.unwrap().status(),
            401,
            "{path}"
        );
    }
    // OpenAI-style paths answer in OpenAI's error shape.
    let r = h
        .post("/api/v1/chat/completions", "{}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], "invalid_api_key");
    assert!(v.get("type").is_none());
}

#[tokio::test]
async fn foreign_host_headers_are_refused() {
    let h = Harness::new().await;
    let r = h
        .http
        .get(h.url("/api/status"))
        .header("host", "attacker.example:8000")
        .send()
        .await
        .unwrap();
    expect_error(r, 403, "permission_error").await;
    for host in ["localhost:8000", "127.0.0.1", "[::1]:8000"] {
        let r = h
            .http
            .get(h.url("/api/status"))
            .header("host", host)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{host}");
    }
    assert!(h.mock.requests().is_empty());
}

#[tokio::test]
async fn configured_hosts_are_accepted() {
    let h = Harness::with(|c| c.server.allowed_hosts = vec!["proxy.lan".into()]).await;
    let r = h
        .http
        .get(h.url("/health"))
        .header("host", "proxy.lan:8000")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn cors_allows_only_matching_origins() {
    let h = Harness::with(|c| c.security.auth_token = Some("local-token-123".into())).await;
    let preflight = |origin: &'static str| {
        h.http
            .request(reqwest::Method::OPTIONS, h.url("/api/v1/messages"))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "x-api-key,content-type")
            .send()
    };
    let ok = preflight("http://localhost:5173").await.unwrap();
    assert!(ok.status().is_success());
    assert_eq!(
        ok.headers()["access-control-allow-origin"],
        "http://localhost:5173"
    );
    assert!(ok.headers()["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .contains("x-api-key"));
    for bad in [
        "http://evil.com",
        "http://localhost.evil.com",
        "https://localhost.evil.com:443",
    ] {
        let r = preflight(bad).await.unwrap();
        assert!(
            r.headers().get("access-control-allow-origin").is_none(),
            "{bad}"
        );
    }
    let actual = h
        .http
        .get(h.url("/health"))
        .header("origin", "http://127.0.0.1:3000")
        .send()
        .await
        .unwrap();
    assert_eq!(
        actual.headers()["access-control-allow-origin"],
        "http://127.0.0.1:3000"
    );
}

#[tokio::test]
async fn bodies_over_the_limit_get_413_and_nothing_is_sent() {
    let h = Harness::with(|c| c.server.max_body_bytes = 1024).await;
    let big = format!(
        r#"{{"model":"m","max_tokens":16,"messages":[],"pad":"{}"}}"#,
        "x".repeat(4096)
    );
    let r = h
        .post("/api/v1/messages", big.clone())
        .send()
        .await
        .unwrap();
    expect_error(r, 413, "request_too_large").await;
    // Also when streamed without a content-length.
    let chunks = futures_util::stream::iter(
        big.into_bytes()
            .chunks(100)
            .map(|c| Ok::<_, std::io::Error>(c.to_vec()))
            .collect::<Vec<_>>(),
    );
    let r = h
        .post("/api/v1/messages", reqwest::Body::wrap_stream(chunks))
        .send()
        .await
        .unwrap();
    expect_error(r, 413, "request_too_large").await;
    assert!(h.mock.requests().is_empty());
}

#[tokio::test]
async fn malformed_bodies_get_400_in_anthropic_shape() {
    let h = Harness::new().await;
    for body in ["not json", "[1,2]", "{\"model\":", ""] {
        let r = h.post("/api/v1/messages", body).send().await.unwrap();
        let m = expect_error(r, 400, "invalid_request_error").await;
        assert!(m.contains("JSON"), "{m}");
    }
    assert!(h.mock.requests().is_empty());
}

#[tokio::test]
async fn unknown_routes_and_methods_answer_in_the_api_shape() {
    let h = Harness::new().await;
    expect_error(
        h.http.get(h.url("/v1/nope")).send().await.unwrap(),
        404,
        "not_found_error",
    )
    .await;
    let r = h.http.get(h.url("/api/v1/messages")).send().await.unwrap();
    assert_eq!(r.status(), 405);
}

/// A web page can send a "simple" cross-origin POST to 127.0.0.1 (no preflight): it must not make
/// the server act. With no API token set (the default), a foreign `Origin`, or
/// `Sec-Fetch-Site: cross-site`, is refused with 403 before anything happens, and a body a page
/// can send without asking (`text/plain`, forms) is 415 on model routes. Real clients (no
/// `Origin`), allowed origins and the server's own page keep working.
#[tokio::test]
async fn cross_site_requests_cannot_make_the_server_act() {
    let h = Harness::new().await;
    let body = r#"{"model":"claude-sonnet-4-20250514","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}"#;
    let chat = r#"{"model":"gpt-4o","max_tokens":16,"messages":[{"role":"user","content":"hi"}]}"#;
    let sent_before = h.mock.requests().len();
    for (path, payload) in [
        ("/api/v1/messages", body),
        ("/api/v1/chat/completions", chat),
        ("/sdk/v1/messages", body),
        ("/oauth/logout", ""),
        ("/api/token", ""),
    ] {
        let r = h
            .http
            .post(h.url(path))
            .header("origin", "https://evil.example")
            .header("content-type", "text/plain")
            .body(payload)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 403, "{path}");
        let r = h
            .post(path, payload)
            .header("sec-fetch-site", "cross-site")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 403, "{path}");
    }
    let r = h
        .post("/api/v1/chat/completions", chat)
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], "forbidden", "OpenAI's shape: {v}");
    // Nothing reached upstream, and the login is still there.
    assert_eq!(h.mock.requests().len(), sent_before);
    assert!(h.credentials_path().exists());

    // A body a form or `text/plain` fetch can send is refused on model routes, in their shape.
    let r = h
        .http
        .post(h.url("/api/v1/messages"))
        .header("content-type", "text/plain;charset=UTF-8")
        .body(body)
        .send()
        .await
        .unwrap();
    expect_error(r, 415, "invalid_request_error").await;
    let r = h
        .http
        .post(h.url("/api/v1/chat/completions"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(chat)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 415);
    let v: Value = r.json().await.unwrap();
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("application/json"),
        "{v}"
    );
    assert_eq!(h.mock.requests().len(), sent_before);

    // Allowed: no Origin (SDKs, curl), an allowed origin, the server's own page.
    let own = format!("http://{}", h.server.local_addr());
    for origin in [None, Some("http://localhost:5173"), Some(own.as_str())] {
        let mut r = h
            .post("/api/v1/messages", body)
            .header("content-type", "application/json");
        if let Some(o) = origin {
            r = r
                .header("origin", o)
                .header("sec-fetch-site", "same-origin");
        }
        assert_eq!(r.send().await.unwrap().status(), 200, "{origin:?}");
    }
}

/// Reads one HTTP/1.1 response (headers and a `Content-Length` body) off a raw connection;
/// `None` when the server closed or reset it.
async fn read_response(stream: &mut tokio::net::TcpStream) -> Option<(u16, String)> {
    use tokio::io::AsyncReadExt;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
    let status: u16 = head.split_whitespace().nth(1)?.parse().ok()?;
    let len: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .map_or(0, |v| v.trim().parse().unwrap_or(0));
    while buf.len() < head_end + len {
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    Some((
        status,
        String::from_utf8_lossy(&buf[head_end..head_end + len]).into_owned(),
    ))
}

/// When the server answers before reading the body (404, 405, 401), the connection stays usable:
/// a keep-alive client's next request on it gets its answer (hyper closed the connection under a
/// client still sending, and the next request failed with a broken pipe).
#[tokio::test]
async fn early_answers_leave_the_connection_usable() {
    use tokio::io::AsyncWriteExt;
    let open = Harness::new().await;
    let locked =
        Harness::with(|c| c.security.auth_token = Some("tok-early".to_string().into())).await;
    let body = format!(r#"{{"pad":"{}"}}"#, "x".repeat(200 * 1024));
    for (h, path, status) in [
        (&open, "/v1/nowhere", 404),
        (&open, "/api/status", 405),
        (&locked, "/api/v1/messages", 401),
    ] {
        let mut stream = tokio::net::TcpStream::connect(h.server.local_addr())
            .await
            .unwrap();
        let request = format!(
            "POST {path} HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        );
        stream.write_all(request.as_bytes()).await.unwrap();
        let first = tokio::time::timeout(Duration::from_secs(30), read_response(&mut stream))
            .await
            .unwrap();
        assert_eq!(first.map(|r| r.0), Some(status), "{path}");
        stream
            .write_all(b"GET /health HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n")
            .await
            .unwrap();
        let next = tokio::time::timeout(Duration::from_secs(30), read_response(&mut stream))
            .await
            .unwrap();
        assert_eq!(
            next.map(|r| r.0),
            Some(200),
            "the request after {path}'s {status}"
        );
    }
}

/// A 413 leaves the rest of the body unread, so it says `Connection: close` (the client is told,
/// instead of finding its next request on a reset connection). Both 413s: a model request's and
/// an oversized settings body's.
#[tokio::test]
async fn a_413_closes_the_connection_cleanly() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let h = Harness::with(|c| c.server.max_body_bytes = 1024).await;
    let body = "x".repeat(4096);
    for (method, path, pad) in [
        ("POST", "/api/v1/messages", 0),
        ("PUT", "/api/settings", 3 << 20),
    ] {
        let mut stream = tokio::net::TcpStream::connect(h.server.local_addr())
            .await
            .unwrap();
        let payload = format!("{body}{}", "y".repeat(pad));
        let request = format!(
            "{method} {path} HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n{}: {}\r\ncontent-length: {}\r\n\r\n",
            ccproxy_core::owner::HEADER,
            secrecy::ExposeSecret::expose_secret(ccproxy_core::owner::key()),
            payload.len()
        );
        stream.write_all(request.as_bytes()).await.unwrap();
        // Send the body alongside reading: the server may answer before it has all of it.
        let (mut rd, mut wr) = stream.into_split();
        let writer = tokio::spawn(async move {
            let _ = wr.write_all(payload.as_bytes()).await;
        });
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        let read = async {
            while !head.ends_with(b"\r\n\r\n") {
                if rd.read(&mut byte).await.unwrap_or(0) == 0 {
                    break;
                }
                head.push(byte[0]);
            }
        };
        tokio::time::timeout(Duration::from_secs(30), read)
            .await
            .unwrap();
        let head = String::from_utf8_lossy(&head).to_ascii_lowercase();
        assert!(head.starts_with("http/1.1 413"), "{path}: {head}");
        assert!(head.contains("connection: close"), "{path}: {head}");
        writer.abort();
    }
}
