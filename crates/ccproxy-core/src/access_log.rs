//! One log line per request: method, path (never the query or headers, which may hold
//! secrets), status and time to response headers.

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;
use std::time::Instant;

/// Middleware: logs each request when its response headers are ready.
pub async fn log(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let response = next.run(request).await;
    let status = response.status().as_u16();
    let request_id = response
        .headers()
        .get("request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-");
    tracing::info!(
        target: "ccproxy::access",
        %method,
        path,
        status,
        request_id,
        ms = started.elapsed().as_secs_f64() * 1000.0,
        "request"
    );
    response
}
