//! Request bodies: the bounded read of a model request's body ([`read`]), and what becomes of a
//! body the server answers without reading ([`answer_unread`]): an early answer (401, 403, 404,
//! 405) must leave the connection usable, so the body is read and dropped — up to the same bound,
//! past which the answer says `Connection: close` instead of resetting a client still sending.

pub mod encoding;

use crate::error::ApiError;
use axum::body::Body;
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::Response;
use bytes::Bytes;
use ccproxy_protocol::error::ErrorKind;
use futures_util::StreamExt;
use http_body_util::{BodyExt, LengthLimitError, Limited};

/// Reads the whole body, refusing more than `limit` bytes (`server.max_body_bytes`) with 413.
pub async fn read(limit: u64, headers: &HeaderMap, body: Body) -> Result<Bytes, ApiError> {
    let too_large = || {
        ApiError::new(
            ErrorKind::RequestTooLarge,
            format!("the request body exceeds the limit of {limit} bytes (server.max_body_bytes)"),
        )
    };
    if declared_len(headers).is_some_and(|len| len > limit) {
        return Err(too_large());
    }
    let cap = usize::try_from(limit).unwrap_or(usize::MAX);
    match Limited::new(body, cap).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => Err(too_large()),
        Err(e) => Err(ApiError::new(
            ErrorKind::InvalidRequest,
            format!("could not read the request body: {e}"),
        )),
    }
}

fn declared_len(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
}

/// `response`, for a request whose body was not read: the body is read and dropped (at most
/// `limit` bytes), so the client's next request can use the connection; a larger one gets
/// `Connection: close`.
pub async fn answer_unread(
    limit: u64,
    headers: &HeaderMap,
    body: Body,
    mut response: Response,
) -> Response {
    let mut left = limit;
    let mut read_all = declared_len(headers).is_none_or(|len| len <= limit);
    if read_all {
        let mut chunks = body.into_data_stream();
        while let Some(chunk) = chunks.next().await {
            match chunk {
                Ok(bytes) if (bytes.len() as u64) <= left => left -= bytes.len() as u64,
                _ => {
                    read_all = false;
                    break;
                }
            }
        }
    }
    if !read_all {
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}
