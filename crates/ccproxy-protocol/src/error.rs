//! Error bodies in each API's own shape. One inner error kind, rendered per surface.

use serde_json::json;

/// What went wrong, independent of which API surface reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The request is malformed (400).
    InvalidRequest,
    /// Missing or wrong credentials (401).
    Authentication,
    /// Authenticated but not allowed, e.g. a forbidden `Host` (403).
    Permission,
    /// No such route or resource (404).
    NotFound,
    /// The body exceeds the configured limit (413).
    RequestTooLarge,
    /// The body is not of a type the route takes, e.g. `text/plain` on a JSON route (415).
    UnsupportedMediaType,
    /// Too many requests (429).
    RateLimit,
    /// Upstream could not be reached or answered garbage (502).
    BadGateway,
    /// Upstream did not answer in time (504).
    Timeout,
    /// A fault of the proxy itself (500).
    Internal,
    /// A needed backend is missing or saturated, e.g. no `claude` CLI (503).
    Unavailable,
}

impl ErrorKind {
    /// The HTTP status this kind is reported with.
    pub fn status(self) -> u16 {
        match self {
            Self::InvalidRequest => 400,
            Self::Authentication => 401,
            Self::Permission => 403,
            Self::NotFound => 404,
            Self::RequestTooLarge => 413,
            Self::UnsupportedMediaType => 415,
            Self::RateLimit => 429,
            Self::BadGateway => 502,
            Self::Timeout => 504,
            Self::Internal => 500,
            Self::Unavailable => 503,
        }
    }

    /// The `error.type` of Anthropic's error shape.
    pub fn anthropic_type(self) -> &'static str {
        match self {
            Self::InvalidRequest | Self::UnsupportedMediaType => "invalid_request_error",
            Self::Authentication => "authentication_error",
            Self::Permission => "permission_error",
            Self::NotFound => "not_found_error",
            Self::RequestTooLarge => "request_too_large",
            Self::RateLimit => "rate_limit_error",
            Self::BadGateway | Self::Timeout | Self::Internal | Self::Unavailable => "api_error",
        }
    }

    /// The `error.type` / `error.code` pair of OpenAI's error shape.
    pub fn openai_type_and_code(self) -> (&'static str, &'static str) {
        openai_type_and_code(self.anthropic_type(), self.status())
    }
}

/// OpenAI's `error.type` / `error.code` for an Anthropic `error.type` and HTTP status: the one
/// table for the proxy's own errors and upstream's alike.
pub fn openai_type_and_code(anthropic_type: &str, status: u16) -> (&'static str, &'static str) {
    match anthropic_type {
        "invalid_request_error" => ("invalid_request_error", "invalid_request"),
        "authentication_error" => ("invalid_request_error", "invalid_api_key"),
        "permission_error" => ("invalid_request_error", "forbidden"),
        "not_found_error" => ("invalid_request_error", "not_found"),
        "request_too_large" => ("invalid_request_error", "request_too_large"),
        "rate_limit_error" => ("rate_limit_error", "rate_limit_exceeded"),
        "overloaded_error" => ("api_error", "overloaded"),
        _ => match status {
            502 => ("api_error", "bad_gateway"),
            503 => ("api_error", "service_unavailable"),
            504 => ("api_error", "timeout"),
            500.. => ("api_error", "server_error"),
            _ => ("api_error", "upstream_error"),
        },
    }
}

/// `{"error":{"message","type","param","code"}}`: OpenAI's error shape, built in this one place.
pub fn openai_error(
    message: &str,
    kind: &str,
    param: Option<&str>,
    code: &str,
) -> serde_json::Value {
    json!({"error": {"message": message, "type": kind, "param": param, "code": code}})
}

/// `{"type":"error","error":{"type":…,"message":…}}`
pub fn anthropic_error_body(kind: ErrorKind, message: &str) -> Vec<u8> {
    json!({"type": "error", "error": {"type": kind.anthropic_type(), "message": message}})
        .to_string()
        .into_bytes()
}

/// `{"error":{"message":…,"type":…,"param":null,"code":…}}`
pub fn openai_error_body(kind: ErrorKind, message: &str) -> Vec<u8> {
    let (kind, code) = kind.openai_type_and_code();
    openai_error(message, kind, None, code)
        .to_string()
        .into_bytes()
}

/// An Anthropic SSE `error` event, sent when a stream breaks after it started.
pub fn anthropic_error_event(kind: ErrorKind, message: &str) -> Vec<u8> {
    let mut event = b"event: error\ndata: ".to_vec();
    event.extend_from_slice(&anthropic_error_body(kind, message));
    event.extend_from_slice(b"\n\n");
    event
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes() {
        let a: serde_json::Value =
            serde_json::from_slice(&anthropic_error_body(ErrorKind::Authentication, "no")).unwrap();
        assert_eq!(a["type"], "error");
        assert_eq!(a["error"]["type"], "authentication_error");
        assert_eq!(a["error"]["message"], "no");
        let o: serde_json::Value =
            serde_json::from_slice(&openai_error_body(ErrorKind::RequestTooLarge, "big")).unwrap();
        assert_eq!(o["error"]["code"], "request_too_large");
        assert_eq!(o["error"]["message"], "big");
        let e = String::from_utf8(anthropic_error_event(ErrorKind::BadGateway, "x")).unwrap();
        assert!(e.starts_with("event: error\ndata: {") && e.ends_with("}\n\n"));
    }

    #[test]
    fn one_code_table_for_own_and_upstream_errors() {
        // The proxy's own 404 and upstream's not_found_error get the same code.
        assert_eq!(ErrorKind::NotFound.openai_type_and_code().1, "not_found");
        assert_eq!(openai_type_and_code("not_found_error", 404).1, "not_found");
        assert_eq!(
            ErrorKind::BadGateway.openai_type_and_code().1,
            "bad_gateway"
        );
        assert_eq!(openai_type_and_code("api_error", 500).1, "server_error");
        assert_eq!(
            openai_type_and_code("overloaded_error", 529).1,
            "overloaded"
        );
        assert_eq!(
            openai_type_and_code("something_new", 418).1,
            "upstream_error"
        );
    }
}
