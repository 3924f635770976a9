//! [`ApiError`]: every error the server answers itself, rendered in the shape of the API the
//! client speaks (Anthropic or OpenAI), with the matching status.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use ccproxy_protocol::error::{anthropic_error_body, openai_error_body, ErrorKind};

use crate::credentials::CredentialError;

/// Which API's shape an error is rendered in. Routes know theirs (each sub-router of
/// `crate::routes` inserts it as a request extension); only a path no route matched is told by
/// its suffix ([`ErrorShape::of_unmatched_path`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ErrorShape {
    #[default]
    Anthropic,
    OpenAi,
}

impl ErrorShape {
    /// The shape for a path no route matched: OpenAI's for its endpoints and what is under them
    /// (`/v1/responses/compact`).
    pub fn of_unmatched_path(path: &str) -> Self {
        if path.contains("/chat/completions") || path.split('/').any(|s| s == "responses") {
            Self::OpenAi
        } else {
            Self::Anthropic
        }
    }
}

/// The error type of a response the proxy answered itself, for the request record.
#[derive(Debug, Clone, Copy)]
pub struct ErrorTag(pub &'static str);

/// An error the proxy itself answers.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub kind: ErrorKind,
    pub message: String,
    pub shape: ErrorShape,
    /// `retry-after` in seconds, for a refusal that ends at a known time.
    pub retry_after_secs: Option<u64>,
    /// The record's `error_type` when it is more specific than the kind's.
    pub tag: Option<&'static str>,
}

impl ApiError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            shape: ErrorShape::Anthropic,
            retry_after_secs: None,
            tag: None,
        }
    }

    /// With a `retry-after` header.
    pub fn retry_after(mut self, secs: Option<u64>) -> Self {
        self.retry_after_secs = secs;
        self
    }

    /// With a more specific `error_type` for the request record.
    pub fn tagged(mut self, tag: &'static str) -> Self {
        self.tag = Some(tag);
        self
    }

    /// Renders in `shape`.
    pub fn in_shape(mut self, shape: ErrorShape) -> Self {
        self.shape = shape;
        self
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.kind.anthropic_type(), self.message)
    }
}

impl From<CredentialError> for ApiError {
    fn from(e: CredentialError) -> Self {
        let kind = match e {
            CredentialError::Missing(_) | CredentialError::LoginDead => ErrorKind::Authentication,
            CredentialError::RefreshFailed(_) => ErrorKind::BadGateway,
        };
        Self::new(kind, e.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = match self.shape {
            ErrorShape::Anthropic => anthropic_error_body(self.kind, &self.message),
            ErrorShape::OpenAi => openai_error_body(self.kind, &self.message),
        };
        let status =
            StatusCode::from_u16(self.kind.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = (status, body).into_response();
        response
            .extensions_mut()
            .insert(ErrorTag(self.tag.unwrap_or(self.kind.anthropic_type())));
        if let Some(secs) = self.retry_after_secs {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        if self.kind == ErrorKind::Authentication {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"ccproxy\""),
            );
        }
        // The rest of a too-large body is never read: close the connection cleanly rather than
        // leave the client sending into a reset.
        if self.kind == ErrorKind::RequestTooLarge {
            response
                .headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        response
    }
}
