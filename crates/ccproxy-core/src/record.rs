//! One record per request, built in one place: `crate::observe` starts a [`Draft`] for every
//! request, handlers fill in what only they know (mode, surface, model, the upstream response's
//! bytes and headers), and when the response body ends — normally, with an error, or because the
//! client went away — the draft becomes a [`RequestRecord`] for the request log and the metrics.

use bytes::Bytes;
use serde::Serialize;
use std::borrow::Cow;
use std::sync::{Arc, Mutex};

/// How upstream's body is to be read for usage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyKind {
    Json,
    Sse,
}

/// What is known about a request while it runs.
#[derive(Debug, Default)]
pub struct Draft {
    /// The route template (set by `guard::admit`, inside the router).
    pub route: Option<axum::extract::MatchedPath>,
    pub mode: Option<&'static str>,
    /// Set with `mode` by [`crate::exchange::run`], the one place a model request begins.
    pub surface: Option<crate::exchange::Surface>,
    pub model_requested: Option<String>,
    pub stream: bool,
    pub upstream_status: Option<u16>,
    pub upstream_request_id: Option<String>,
    pub error_type: Option<String>,
    pub quota: Option<crate::quota::Quota>,
    /// Who paid, from the quota reading (or, when there is none, an error's text).
    pub bucket: Option<crate::billing::Bucket>,
    /// Upstream's response body, kept (reference-counted, not copied) to read usage from once
    /// the request is over, off the request path.
    pub upstream_body: Vec<Bytes>,
    pub upstream_kind: Option<BodyKind>,
    /// Bytes kept so far; collection stops past a cap.
    pub upstream_bytes: usize,
    /// The client's request body, kept only when `observability.store_bodies` is on.
    pub request_body: Option<Bytes>,
    /// Claude Code mode: the CLI's own cost of the turn (`total_cost_usd`).
    pub cli_cost_usd: Option<f64>,
    /// Claude Code mode: the CLI turn this request was part of (a turn that called the
    /// client's tools spans the request that got the calls and the ones that sent the results).
    pub turn_id: Option<String>,
}

/// The most upstream body kept for reading usage.
const KEEP_AT_MOST: usize = 8 * 1024 * 1024;

impl Draft {
    /// Keeps a chunk of upstream's body for the usage read.
    pub fn keep(&mut self, chunk: &Bytes) {
        if self.upstream_kind.is_some() && self.upstream_bytes < KEEP_AT_MOST {
            self.upstream_bytes += chunk.len();
            self.upstream_body.push(chunk.clone());
        }
    }
}

/// A request's draft, shared between the middleware and the handler.
#[derive(Clone, Debug, Default)]
pub struct DraftCell(pub Arc<Mutex<Draft>>);

impl DraftCell {
    /// Runs `f` on the draft.
    pub fn with<T>(&self, f: impl FnOnce(&mut Draft) -> T) -> T {
        f(&mut self.0.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

/// One finished request, as stored and streamed.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct RequestRecord {
    /// Row id (0 until stored).
    pub id: i64,
    /// Unix milliseconds when the request arrived.
    pub ts: i64,
    pub request_id: String,
    /// `api`, `sdk` (Claude Code mode, named for its `/sdk` prefix) or `none` (static while a request runs; owned when read back).
    pub mode: Cow<'static, str>,
    pub surface: Cow<'static, str>,
    pub method: Cow<'static, str>,
    /// The route template, e.g. `/api/v1/messages`.
    pub route: String,
    pub model_requested: Option<String>,
    pub model_served: Option<String>,
    pub stream: bool,
    pub status: u16,
    pub upstream_status: Option<u16>,
    pub duration_ms: f64,
    pub ttfb_ms: Option<f64>,
    pub ttft_ms: Option<f64>,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cache_read_tokens: u64,
    pub cache_write_tokens: u64,
    pub cost_usd: Option<f64>,
    /// Claude Code mode: what the CLI itself reported the turn cost (on a turn's last request).
    pub cli_cost_usd: Option<f64>,
    /// Claude Code mode: the CLI turn the request belongs to (see [`Draft::turn_id`]).
    pub turn_id: Option<String>,
    pub user_agent: Option<String>,
    pub error_type: Option<String>,
    pub client_disconnected: bool,
    pub upstream_request_id: Option<String>,
    pub quota_status: Option<String>,
    /// Model requests: `plan`, `extra_usage` or `unknown` (see `crate::billing`).
    pub billing: Option<Cow<'static, str>>,
    pub quota_5h_utilization: Option<f64>,
    pub quota_7d_utilization: Option<f64>,
    /// Stored bodies (`observability.store_bodies`), returned by `/logs/query?bodies=true`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_body: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_body: Option<String>,
}
