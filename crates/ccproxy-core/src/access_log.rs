//! The access log: one line per request on the server log (stderr), in the server's log format
//! (text or JSON), printed by the request log's writer once tokens and cost are known.
//!
//! The line is formatted here rather than by `tracing-subscriber`, whose formatter escapes its
//! output one character at a time — that was the largest single cost of observing a request
//! (~12k instructions a line). The only value a client controls, the model name, is escaped
//! here; the rest are route templates, numbers and hex ids. Whether lines are printed follows
//! the log filter like any event: target `ccproxy::access`, level `INFO`.

use crate::config::LogFormat;
use crate::record::RequestRecord;
use serde::Serialize;
use std::io::Write;

/// The JSON form, flattened like the other JSON log lines.
#[derive(Serialize)]
struct JsonLine<'a> {
    timestamp: &'a str,
    level: &'static str,
    target: &'static str,
    message: &'static str,
    method: &'a str,
    path: &'a str,
    status: u16,
    ms: f64,
    model: &'a str,
    input_tokens: u64,
    output_tokens: u64,
    cost_usd: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    billing: Option<&'a str>,
    request_id: &'a str,
    disconnected: bool,
}

/// Prints the access line of `r` (if the log filter lets `ccproxy::access` through).
pub fn print(r: &RequestRecord, format: LogFormat) {
    let mut lines = Lines::new(format);
    lines.push(r);
    lines.write();
}

/// Access lines gathered to be written together (the request log's writer prints a batch's
/// lines with one write).
pub struct Lines {
    format: LogFormat,
    enabled: bool,
    /// When the lines are written (formatted once per batch).
    now: Option<String>,
    out: Vec<u8>,
}

impl Lines {
    pub fn new(format: LogFormat) -> Self {
        Self {
            format,
            enabled: tracing::enabled!(target: "ccproxy::access", tracing::Level::INFO),
            now: None,
            out: Vec::new(),
        }
    }

    pub fn push(&mut self, r: &RequestRecord) {
        if self.enabled {
            let now = self.now.get_or_insert_with(|| {
                humantime::format_rfc3339_micros(std::time::SystemTime::now()).to_string()
            });
            line(&mut self.out, r, self.format, now);
        }
    }

    /// Writes the lines to stderr, in one write (each line is whole: lines from other threads
    /// never interleave within one).
    pub fn write(self) {
        if !self.out.is_empty() {
            let _ = std::io::stderr().lock().write_all(&self.out);
        }
    }
}

fn line(out: &mut Vec<u8>, r: &RequestRecord, format: LogFormat, now: &str) {
    let model = r
        .model_served
        .as_deref()
        .or(r.model_requested.as_deref())
        .unwrap_or("-");
    match format {
        LogFormat::Text => {
            // Pieces appended directly, numbers by `itoa`: `write!`'s formatting machinery
            // cost more than the rest of the line.
            let mut n = itoa::Buffer::new();
            let tenths_ms = (r.duration_ms * 10.0).round() as u64;
            let micro_usd = (r.cost_usd.unwrap_or(0.0) * 1e6).round() as u64;
            for piece in [
                now,
                "  INFO ccproxy::access: ",
                &r.method,
                " ",
                &r.route,
                " ",
                n.format(r.status),
            ] {
                out.extend_from_slice(piece.as_bytes());
            }
            out.push(b' ');
            out.extend_from_slice(n.format(tenths_ms / 10).as_bytes());
            out.push(b'.');
            out.extend_from_slice(n.format(tenths_ms % 10).as_bytes());
            out.extend_from_slice(b"ms model=");
            if model.bytes().all(|b| b.is_ascii_graphic()) {
                out.extend_from_slice(model.as_bytes());
            } else {
                let _ = write!(out, "{model:?}");
            }
            out.extend_from_slice(b" tokens=");
            out.extend_from_slice(n.format(r.input_tokens).as_bytes());
            out.push(b'/');
            out.extend_from_slice(n.format(r.output_tokens).as_bytes());
            out.extend_from_slice(b" cost=");
            out.extend_from_slice(n.format(micro_usd / 1_000_000).as_bytes());
            out.push(b'.');
            let fraction = n.format(1_000_000 + micro_usd % 1_000_000);
            out.extend_from_slice(&fraction.as_bytes()[1..]);
            if let Some(billing) = &r.billing {
                out.extend_from_slice(b" billing=");
                out.extend_from_slice(billing.as_bytes());
            }
            out.extend_from_slice(b" id=");
            out.extend_from_slice(r.request_id.as_bytes());
            if r.client_disconnected {
                out.extend_from_slice(b" client_disconnected");
            }
        }
        LogFormat::Json => {
            let _ = serde_json::to_writer(
                &mut *out,
                &JsonLine {
                    timestamp: now,
                    level: "INFO",
                    target: "ccproxy::access",
                    message: "request",
                    method: &r.method,
                    path: &r.route,
                    status: r.status,
                    ms: r.duration_ms,
                    model,
                    input_tokens: r.input_tokens,
                    output_tokens: r.output_tokens,
                    cost_usd: r.cost_usd,
                    billing: r.billing.as_deref(),
                    request_id: &r.request_id,
                    disconnected: r.client_disconnected,
                },
            );
        }
    }
    out.push(b'\n');
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::borrow::Cow;

    fn record() -> RequestRecord {
        RequestRecord {
            id: 1,
            ts: 0,
            request_id: "00ab".into(),
            mode: Cow::Borrowed("api"),
            surface: Cow::Borrowed("anthropic"),
            method: Cow::Borrowed("POST"),
            route: "/api/v1/messages".into(),
            model_requested: Some("evil\n\u{1b}[31mmodel".into()),
            model_served: None,
            stream: false,
            status: 200,
            upstream_status: Some(200),
            duration_ms: 12.345,
            ttfb_ms: None,
            ttft_ms: None,
            input_tokens: 12,
            output_tokens: 6,
            cache_read_tokens: 0,
            cache_write_tokens: 0,
            cost_usd: Some(0.000126),
            cli_cost_usd: None,
            user_agent: None,
            error_type: None,
            client_disconnected: true,
            upstream_request_id: None,
            turn_id: None,
            quota_status: None,
            billing: Some(Cow::Borrowed("extra_usage")),
            quota_5h_utilization: None,
            quota_7d_utilization: None,
            request_body: None,
            response_body: None,
        }
    }

    #[test]
    fn text_line_escapes_what_a_client_chose() {
        let mut out = Vec::new();
        line(&mut out, &record(), LogFormat::Text, "T");
        let line = String::from_utf8(out).unwrap();
        assert_eq!(
            line,
            "T  INFO ccproxy::access: POST /api/v1/messages 200 12.3ms \
             model=\"evil\\n\\u{1b}[31mmodel\" tokens=12/6 cost=0.000126 billing=extra_usage id=00ab \
             client_disconnected\n"
        );
    }

    #[test]
    fn text_line_numbers() {
        let mut r = record();
        r.model_requested = Some("claude-x".into());
        r.client_disconnected = false;
        r.cost_usd = Some(12.05);
        r.duration_ms = 1234.96;
        let mut out = Vec::new();
        line(&mut out, &r, LogFormat::Text, "T");
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "T  INFO ccproxy::access: POST /api/v1/messages 200 1235.0ms model=claude-x \
             tokens=12/6 cost=12.050000 billing=extra_usage id=00ab\n"
        );
    }

    #[test]
    fn json_line_has_the_facts_as_fields() {
        let mut r = record();
        r.model_served = Some("claude-x".into());
        let mut json = Vec::new();
        line(&mut json, &r, LogFormat::Json, "T");
        let v: serde_json::Value = serde_json::from_slice(&json).unwrap();
        assert_eq!(v["path"], "/api/v1/messages");
        assert_eq!(v["model"], "claude-x");
        assert_eq!(v["output_tokens"], 6);
        assert_eq!(v["billing"], "extra_usage");
        assert_eq!(v["target"], "ccproxy::access");
        assert_eq!(json.iter().filter(|b| **b == b'\n').count(), 1);
    }
}
