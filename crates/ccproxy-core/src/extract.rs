//! Extractors whose rejections come out as [`ApiError`]s, in the API's own error shape, instead
//! of axum's plain-text rejections.

use crate::error::ApiError;
use axum::extract::{FromRequest, FromRequestParts, Query, Request};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::Json;
use ccproxy_protocol::error::ErrorKind;
use serde::de::DeserializeOwned;

/// The query string as `T`; a bad one is a 400 naming what is wrong.
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match Query::<T>::from_request_parts(parts, state).await {
            Ok(Query(value)) => Ok(Self(value)),
            Err(e) => Err(ApiError::new(ErrorKind::InvalidRequest, e.body_text())),
        }
    }
}

/// A JSON body as `T`; a bad one is a 400 naming what is wrong, one over axum's body limit a 413.
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        match Json::<T>::from_request(request, state).await {
            Ok(Json(value)) => Ok(Self(value)),
            Err(e) if e.status() == StatusCode::UNSUPPORTED_MEDIA_TYPE => Err(ApiError::new(
                ErrorKind::UnsupportedMediaType,
                e.body_text(),
            )),
            Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => Err(ApiError::new(
                ErrorKind::RequestTooLarge,
                format!("the request body is too large: {}", e.body_text()),
            )),
            Err(e) => Err(ApiError::new(ErrorKind::InvalidRequest, e.body_text())),
        }
    }
}
