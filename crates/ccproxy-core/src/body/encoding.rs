//! Request bodies sent compressed (`Content-Encoding: gzip`, `deflate`, `br` or `zstd`; recent
//! Claude Code versions can send them): decoded, to at most `server.max_body_bytes` of output (a
//! small body cannot expand into an unbounded one), when the proxy has to look inside.

use crate::error::ApiError;
use axum::http::{header, HeaderMap};
use ccproxy_protocol::error::ErrorKind;
use std::io::Read;

/// The body's content coding, when it is not `identity`.
pub fn of(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::CONTENT_ENCODING)?.to_str().ok()?.trim();
    (!value.is_empty() && !value.eq_ignore_ascii_case("identity")).then_some(value)
}

/// `body` decoded from `coding`; more than `limit` bytes of output is a 413.
pub fn decode(coding: &str, body: &[u8], limit: u64) -> Result<Vec<u8>, ApiError> {
    let undecodable = |e: &dyn std::fmt::Display| {
        ApiError::new(
            ErrorKind::InvalidRequest,
            format!("the {coding} request body cannot be decoded: {e}"),
        )
    };
    let reader: Box<dyn Read + '_> = match coding.to_ascii_lowercase().as_str() {
        "gzip" | "x-gzip" => Box::new(flate2::read::MultiGzDecoder::new(body)),
        "deflate" => Box::new(flate2::read::ZlibDecoder::new(body)),
        "br" => Box::new(brotli_decompressor::Decompressor::new(body, 8192)),
        "zstd" => {
            Box::new(ruzstd::decoding::StreamingDecoder::new(body).map_err(|e| undecodable(&e))?)
        }
        other => {
            return Err(ApiError::new(
                ErrorKind::UnsupportedMediaType,
                format!(
                    "Content-Encoding `{other}` is not supported: send gzip, deflate, br, zstd \
                     or an uncompressed body"
                ),
            ))
        }
    };
    let mut out = Vec::with_capacity(body.len().saturating_mul(4));
    let read = reader
        .take(limit.saturating_add(1))
        .read_to_end(&mut out)
        .map_err(|e| undecodable(&e))?;
    if read as u64 > limit {
        return Err(ApiError::new(
            ErrorKind::RequestTooLarge,
            format!(
                "the decoded request body exceeds the limit of {limit} bytes (server.max_body_bytes)"
            ),
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(bytes).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn decodes_within_the_limit_and_refuses_a_bomb() {
        let text = b"{\"model\":\"m\"}".repeat(10);
        assert_eq!(decode("gzip", &gzip(&text), 1 << 20).unwrap(), text);
        let bomb = gzip(&vec![b' '; 1 << 20]);
        assert!(bomb.len() < 8192);
        let e = decode("gzip", &bomb, 64 * 1024).unwrap_err();
        assert_eq!(e.kind, ErrorKind::RequestTooLarge);
        assert_eq!(
            decode("compress", b"x", 10).unwrap_err().kind,
            ErrorKind::UnsupportedMediaType
        );
        assert_eq!(
            decode("gzip", b"not gzip", 10).unwrap_err().kind,
            ErrorKind::InvalidRequest
        );
    }
}
