//! CORS for browser clients: only origins matching `server.cors_origins` are allowed.
//!
//! A pattern is an origin in which `*` matches any run of characters other than `/`, so
//! `http://localhost:*` admits `http://localhost:5173` but not `http://localhost.evil.com`.

use axum::http::{HeaderName, HeaderValue, Method};
use std::time::Duration;
use tower_http::cors::{AllowHeaders, AllowOrigin, CorsLayer, ExposeHeaders};

/// Whether `origin` matches `pattern`.
pub fn origin_matches(pattern: &str, origin: &str) -> bool {
    fn go(p: &[u8], o: &[u8]) -> bool {
        match p.split_first() {
            None => o.is_empty(),
            Some((b'*', rest)) => {
                // Try every split point up to the next '/' in the origin.
                let limit = o.iter().position(|&c| c == b'/').unwrap_or(o.len());
                (0..=limit).any(|i| go(rest, &o[i..]))
            }
            Some((c, rest)) => o
                .split_first()
                .is_some_and(|(d, o_rest)| c.eq_ignore_ascii_case(d) && go(rest, o_rest)),
        }
    }
    pattern == "*" || go(pattern.as_bytes(), origin.as_bytes())
}

/// The CORS layer for the configured origin patterns.
pub fn layer(patterns: &[String]) -> CorsLayer {
    let patterns = patterns.to_vec();
    CorsLayer::new()
        .allow_origin(AllowOrigin::predicate(move |origin: &HeaderValue, _| {
            origin
                .to_str()
                .is_ok_and(|o| patterns.iter().any(|p| origin_matches(p, o)))
        }))
        .allow_methods([Method::GET, Method::POST, Method::DELETE, Method::OPTIONS])
        .allow_headers(AllowHeaders::mirror_request())
        .expose_headers(ExposeHeaders::list([
            HeaderName::from_static("request-id"),
            HeaderName::from_static("retry-after"),
        ]))
        .max_age(Duration::from_secs(600))
}

#[cfg(test)]
mod tests {
    use super::origin_matches;

    #[test]
    fn patterns_really_match() {
        assert!(origin_matches(
            "http://localhost:*",
            "http://localhost:5173"
        ));
        assert!(origin_matches("http://localhost:*", "http://LOCALHOST:1"));
        assert!(!origin_matches(
            "http://localhost:*",
            "http://localhost.evil.com"
        ));
        assert!(!origin_matches("http://localhost:*", "http://localhost"));
        assert!(!origin_matches("http://localhost:*", "https://localhost:1"));
        assert!(!origin_matches(
            "http://localhost:*",
            "http://evil.com/http://localhost:1"
        ));
        assert!(origin_matches(
            "https://*.example.com",
            "https://a.b.example.com"
        ));
        assert!(!origin_matches(
            "https://*.example.com",
            "https://example.com"
        ));
        assert!(origin_matches(
            "https://app.example.com",
            "https://app.example.com"
        ));
        assert!(!origin_matches(
            "https://app.example.com",
            "https://app.example.com.evil"
        ));
        assert!(origin_matches("*", "null"));
    }
}
