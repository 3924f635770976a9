//! What went through the proxy, for the dashboard and for Prometheus: `/logs/status`,
//! `/logs/query`, `/logs/summary`, `/logs/stream` (server-sent events), `/api/quota`, `/metrics`.

use crate::error::ApiError;
use crate::extract::ApiQuery;
use crate::request_log::{Filter, LogError};
use crate::state::AppState;
use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use bytes::Bytes;
use ccproxy_protocol::error::ErrorKind;
use futures_util::StreamExt;
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast::error::RecvError;

impl From<LogError> for ApiError {
    fn from(e: LogError) -> Self {
        let kind = match e {
            LogError::Disabled => ErrorKind::NotFound,
            LogError::Invalid(_) => ErrorKind::InvalidRequest,
            LogError::Database(_) => ErrorKind::Internal,
        };
        ApiError::new(kind, e.to_string())
    }
}

/// Runs a blocking read of the log off the async threads.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, LogError> + Send + 'static,
) -> Result<T, ApiError> {
    match tokio::task::spawn_blocking(f).await {
        Ok(result) => Ok(result?),
        Err(e) => Err(ApiError::new(ErrorKind::Internal, e.to_string())),
    }
}

/// `GET /logs/status`
pub async fn status(State(state): State<Arc<AppState>>) -> Result<Json<Value>, ApiError> {
    let log = state.request_log.clone();
    let status = blocking(move || log.status()).await?;
    Ok(Json(serde_json::to_value(status).unwrap_or_default()))
}

/// `GET /logs/query?since&until&mode&model&status&surface&cursor&limit`
pub async fn query(
    State(state): State<Arc<AppState>>,
    ApiQuery(filter): ApiQuery<Filter>,
) -> Result<Json<Value>, ApiError> {
    let log = state.request_log.clone();
    Ok(Json(blocking(move || log.query(&filter)).await?))
}

#[derive(Deserialize)]
pub struct WindowQuery {
    #[serde(default = "default_window")]
    window: String,
}

fn default_window() -> String {
    "24h".into()
}

/// `GET /logs/summary?window=1h|24h|7d|30d`
pub async fn summary(
    State(state): State<Arc<AppState>>,
    ApiQuery(q): ApiQuery<WindowQuery>,
) -> Result<Json<Value>, ApiError> {
    let log = state.request_log.clone();
    Ok(Json(blocking(move || log.summary(&q.window)).await?))
}

/// `GET /logs/stream`: new records as server-sent events (`event: request`), with the filters of
/// `/logs/query`; a comment every 15 s keeps idle connections open.
pub async fn stream(
    State(state): State<Arc<AppState>>,
    ApiQuery(filter): ApiQuery<Filter>,
) -> Result<Response, ApiError> {
    let receiver = state.request_log.subscribe();
    let stopping = state.stopping.clone();
    // A first comment sends the headers at once, so clients know they are subscribed.
    let hello = futures_util::stream::once(async {
        Ok::<_, std::io::Error>(Bytes::from_static(b": subscribed\n\n"))
    });
    let events = futures_util::stream::unfold(
        (receiver, stopping, filter),
        |(mut rx, mut stopping, filter)| async move {
            loop {
                if *stopping.borrow() {
                    return None;
                }
                let next = tokio::select! {
                    r = rx.recv() => Some(r),
                    _ = stopping.changed() => return None,
                    () = tokio::time::sleep(Duration::from_secs(15)) => None,
                };
                let frame = match next {
                    None => Bytes::from_static(b": keep-alive\n\n"),
                    Some(Ok(record)) if filter.matches(&record) => {
                        // Bodies stay in `/logs/query?bodies=true`; the stream is for tails.
                        let mut record = (*record).clone();
                        record.request_body = None;
                        record.response_body = None;
                        let data = serde_json::to_string(&record).unwrap_or_default();
                        Bytes::from(format!("event: request\ndata: {data}\n\n"))
                    }
                    Some(Ok(_)) => continue,
                    Some(Err(RecvError::Lagged(n))) => {
                        Bytes::from(format!("event: lagged\ndata: {{\"missed\":{n}}}\n\n"))
                    }
                    Some(Err(RecvError::Closed)) => return None,
                };
                return Some((Ok::<_, std::io::Error>(frame), (rx, stopping, filter)));
            }
        },
    );
    let mut response = Response::new(Body::from_stream(hello.chain(events)));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    Ok(response)
}

/// Readings older than this are marked stale: the windows may have moved since.
const STALE_MS: i64 = 10 * 60 * 1000;

/// `GET /api/quota`: the latest reading of upstream's quota headers (every window they report,
/// their resets, the raw values), how old it is, where the pace of use leads in each window
/// (from the request log's readings), and the extra-usage guard's state.
pub async fn quota(State(state): State<Arc<AppState>>) -> Json<Value> {
    let now_ms = crate::clock::unix_ms() as i64;
    let billing = state.billing.state(now_ms / 1000);
    match state.quota.get() {
        Some(q) => {
            let age_ms = (now_ms - q.observed_at).max(0);
            let bucket = crate::billing::Bucket::of(&q);
            let (log, reading) = (state.request_log.clone(), q.clone());
            let projection =
                tokio::task::spawn_blocking(move || projections(&log, &reading, now_ms / 1000))
                    .await
                    .unwrap_or_else(|e| {
                        tracing::warn!("quota projection: {e}");
                        json!({})
                    });
            Json(json!({"available": true, "quota": q, "bucket": bucket,
                "age_secs": age_ms / 1000, "stale": age_ms > STALE_MS,
                "projection": projection, "billing": billing}))
        }
        None => Json(
            json!({"available": false, "quota": null, "billing": billing, "projection": {},
            "message": "no response from upstream has been seen yet; the quota is read from its headers"}),
        ),
    }
}

/// Each window's [`crate::quota::Projection`] (`null` where the log cannot tell a pace yet),
/// by window name.
fn projections(log: &crate::request_log::RequestLog, q: &crate::quota::Quota, now: i64) -> Value {
    use crate::quota::{Projection, Window};
    let mut out = serde_json::Map::new();
    for window in Window::ALL {
        let (current, reset) = window.of(q);
        let projection = current.and_then(|current| {
            let since = window.start(reset, now);
            match log.readings(window, since) {
                Ok(r) => Projection::from_readings(window, &r, since, now, current, reset),
                Err(e) => {
                    tracing::debug!("quota projection: {e}");
                    None
                }
            }
        });
        out.insert(window.as_str().into(), json!(projection));
    }
    Value::Object(out)
}

/// `GET /metrics` on the main port: Prometheus text format, unless disabled or moved to
/// `observability.metrics_port`.
pub async fn metrics(State(state): State<Arc<AppState>>) -> Response {
    let obs = &state.config.observability;
    if !obs.metrics {
        return ApiError::new(
            ErrorKind::NotFound,
            "metrics are disabled (observability.metrics = false)",
        )
        .into_response();
    }
    if obs.metrics_port.is_some() {
        return ApiError::new(
            ErrorKind::NotFound,
            "metrics are served on observability.metrics_port",
        )
        .into_response();
    }
    metrics_here(State(state)).await
}

/// `GET /metrics` wherever it is served.
pub async fn metrics_here(State(state): State<Arc<AppState>>) -> Response {
    (
        StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.render(),
    )
        .into_response()
}
