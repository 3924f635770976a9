//! Reading the request log: the filters of `/logs/query` and `/logs/stream`, a page of
//! records, the status and the summary of a window.

use super::schema::db_bytes;
use super::{LogError, RequestLog};
use crate::quota::{Readings, Window};
use crate::record::RequestRecord;
use rusqlite::OptionalExtension;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::borrow::Cow;
use std::path::PathBuf;
use std::sync::atomic::Ordering;

/// Filters of `/logs/query` and `/logs/stream`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Filter {
    /// Unix milliseconds, inclusive.
    pub since: Option<i64>,
    /// Unix milliseconds, exclusive.
    pub until: Option<i64>,
    pub mode: Option<String>,
    pub model: Option<String>,
    /// `2xx`, `4xx`, `5xx`, or an exact status.
    pub status: Option<String>,
    pub surface: Option<String>,
    /// One Claude Code turn's requests (`turn_id`).
    pub turn: Option<String>,
    /// Who paid: `plan`, `extra_usage` or `unknown`.
    pub billing: Option<String>,
    /// Rows with an id below this (the `next_cursor` of the previous page).
    pub cursor: Option<i64>,
    /// At most 1000; default 100.
    pub limit: Option<u32>,
    /// Include stored bodies.
    pub bodies: bool,
}

impl Filter {
    /// Whether a record passes the filter (for the live stream).
    pub fn matches(&self, r: &RequestRecord) -> bool {
        let status_ok = match self.status.as_deref() {
            None => true,
            Some(class) if class.len() == 3 && class.ends_with("xx") => {
                class.as_bytes()[0] == b'0' + (r.status / 100) as u8
            }
            Some(exact) => exact.parse::<u16>().is_ok_and(|s| s == r.status),
        };
        status_ok
            && self.since.is_none_or(|t| r.ts >= t)
            && self.until.is_none_or(|t| r.ts < t)
            && self.mode.as_deref().is_none_or(|m| m == r.mode)
            && self.surface.as_deref().is_none_or(|s| s == r.surface)
            && self
                .turn
                .as_deref()
                .is_none_or(|t| r.turn_id.as_deref() == Some(t))
            && self
                .billing
                .as_deref()
                .is_none_or(|b| r.billing.as_deref() == Some(b))
            && self.model.as_deref().is_none_or(|m| {
                r.model_requested.as_deref() == Some(m) || r.model_served.as_deref() == Some(m)
            })
    }

    fn where_sql(&self) -> Result<(String, Vec<rusqlite::types::Value>), LogError> {
        use rusqlite::types::Value as V;
        let mut clauses = Vec::new();
        let mut args: Vec<V> = Vec::new();
        if let Some(t) = self.since {
            clauses.push("ts >= ?");
            args.push(V::Integer(t));
        }
        if let Some(t) = self.until {
            clauses.push("ts < ?");
            args.push(V::Integer(t));
        }
        if let Some(m) = &self.mode {
            clauses.push("mode = ?");
            args.push(V::Text(m.clone()));
        }
        if let Some(s) = &self.surface {
            clauses.push("surface = ?");
            args.push(V::Text(s.clone()));
        }
        if let Some(t) = &self.turn {
            clauses.push("turn_id = ?");
            args.push(V::Text(t.clone()));
        }
        if let Some(b) = &self.billing {
            if crate::billing::Bucket::parse(b).is_none() {
                return Err(LogError::Invalid(format!(
                    "billing `{b}` is not plan, extra_usage or unknown"
                )));
            }
            clauses.push("billing = ?");
            args.push(V::Text(b.clone()));
        }
        if let Some(m) = &self.model {
            clauses.push("(model_requested = ? OR model_served = ?)");
            args.push(V::Text(m.clone()));
            args.push(V::Text(m.clone()));
        }
        if let Some(s) = &self.status {
            if s.len() == 3 && s.ends_with("xx") && s.as_bytes()[0].is_ascii_digit() {
                let low = i64::from(s.as_bytes()[0] - b'0') * 100;
                clauses.push("status >= ? AND status < ?");
                args.push(V::Integer(low));
                args.push(V::Integer(low + 100));
            } else {
                let exact: i64 = s.parse().map_err(|_| {
                    LogError::Invalid(format!(
                        "status `{s}` is not 2xx, 4xx, 5xx or a status code"
                    ))
                })?;
                clauses.push("status = ?");
                args.push(V::Integer(exact));
            }
        }
        if let Some(c) = self.cursor {
            clauses.push("id < ?");
            args.push(V::Integer(c));
        }
        let sql = if clauses.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", clauses.join(" AND "))
        };
        Ok((sql, args))
    }
}

pub(super) fn row_record(row: &rusqlite::Row<'_>) -> rusqlite::Result<RequestRecord> {
    Ok(RequestRecord {
        id: row.get("id")?,
        ts: row.get("ts")?,
        request_id: row.get("request_id")?,
        mode: Cow::Owned(row.get("mode")?),
        surface: Cow::Owned(row.get("surface")?),
        method: Cow::Owned(row.get("method")?),
        route: row.get("route")?,
        model_requested: row.get("model_requested")?,
        model_served: row.get("model_served")?,
        stream: row.get("stream")?,
        status: row.get("status")?,
        upstream_status: row.get("upstream_status")?,
        duration_ms: row.get("duration_ms")?,
        ttfb_ms: row.get("ttfb_ms")?,
        ttft_ms: row.get("ttft_ms")?,
        input_tokens: row.get::<_, i64>("input_tokens")? as u64,
        output_tokens: row.get::<_, i64>("output_tokens")? as u64,
        cache_read_tokens: row.get::<_, i64>("cache_read_tokens")? as u64,
        cache_write_tokens: row.get::<_, i64>("cache_write_tokens")? as u64,
        cost_usd: row.get("cost_usd")?,
        cli_cost_usd: row.get("cli_cost_usd")?,
        turn_id: row.get("turn_id")?,
        user_agent: row.get("user_agent")?,
        error_type: row.get("error_type")?,
        client_disconnected: row.get("client_disconnected")?,
        upstream_request_id: row.get("upstream_request_id")?,
        quota_status: row.get("quota_status")?,
        billing: row.get::<_, Option<String>>("billing")?.map(Cow::Owned),
        quota_5h_utilization: row.get("quota_5h")?,
        quota_7d_utilization: row.get("quota_7d")?,
        request_body: row.get("request_body")?,
        response_body: row.get("response_body")?,
    })
}

/// `/logs/status`
#[derive(Debug, Serialize)]
pub struct LogStatus {
    pub enabled: bool,
    pub path: Option<PathBuf>,
    pub size_bytes: u64,
    pub rows: i64,
    pub oldest_ts: Option<i64>,
    pub newest_ts: Option<i64>,
    pub dropped: u64,
    pub queue_capacity: usize,
    pub retention_days: u64,
    pub max_bytes: u64,
    /// Times the database was found deleted or replaced, and made anew.
    pub recreated: u64,
    /// Records that could not be stored.
    pub unstored: u64,
    /// The latest problem storing records, if any: `{ "ts", "message" }`.
    pub problem: Option<Value>,
}

impl RequestLog {
    /// `/logs/status`
    pub fn status(&self) -> Result<LogStatus, LogError> {
        let (rows, oldest, newest) = match self.reader()? {
            Some(conn) => conn
                .query_row("SELECT COUNT(*), MIN(ts), MAX(ts) FROM requests", [], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                })
                .optional()?
                .unwrap_or((0, None, None)),
            None => (0, None, None),
        };
        Ok(LogStatus {
            enabled: self.settings.path.is_some(),
            path: self.settings.path.clone(),
            size_bytes: self.settings.path.as_deref().map(db_bytes).unwrap_or(0),
            rows,
            oldest_ts: oldest,
            newest_ts: newest,
            dropped: self.dropped(),
            queue_capacity: self.settings.queue_capacity,
            retention_days: self.settings.retention.as_secs() / 86_400,
            max_bytes: self.settings.max_bytes,
            recreated: self.health.recreated.load(Ordering::Relaxed),
            unstored: self.health.unstored.load(Ordering::Relaxed),
            problem: self
                .health
                .problem
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .as_ref()
                .map(|(ts, message)| json!({"ts": ts, "message": message})),
        })
    }

    /// `/logs/query`: newest first, a page at a time.
    pub fn query(&self, filter: &Filter) -> Result<Value, LogError> {
        let limit = filter.limit.unwrap_or(100);
        if limit == 0 || limit > 1000 {
            return Err(LogError::Invalid("limit must be between 1 and 1000".into()));
        }
        let (where_sql, mut args) = filter.where_sql()?;
        let Some(conn) = self.reader()? else {
            return Ok(json!({"data": [], "next_cursor": null}));
        };
        args.push(rusqlite::types::Value::Integer(i64::from(limit)));
        let sql = format!("SELECT * FROM requests {where_sql} ORDER BY id DESC LIMIT ?");
        let mut stmt = conn.prepare(&sql)?;
        let mut rows: Vec<RequestRecord> = stmt
            .query_map(rusqlite::params_from_iter(args), row_record)
            .and_then(|rows| rows.collect())?;
        if !filter.bodies {
            for r in &mut rows {
                r.request_body = None;
                r.response_body = None;
            }
        }
        let next = (rows.len() == limit as usize)
            .then(|| rows.last().map(|r| r.id))
            .flatten();
        Ok(json!({"data": rows, "next_cursor": next}))
    }

    /// The sums of `window`'s utilization readings recorded since `since` (Unix seconds), for
    /// its pace ([`crate::quota::Projection`]); aggregated in SQLite, no rows read out.
    pub fn readings(&self, window: Window, since: i64) -> Result<Readings, LogError> {
        let Some(conn) = self.reader()? else {
            return Ok(Readings::default());
        };
        // The column comes from a closed set (`Window::column`), never from input.
        let sql = format!(
            "SELECT COUNT(*), TOTAL(x), TOTAL(y), TOTAL(x * x), TOTAL(x * y), MIN(x), MAX(x)
               FROM (SELECT (ts - ?1) / 1000.0 AS x, {} AS y FROM requests
                      WHERE ts >= ?1 AND {0} IS NOT NULL)",
            window.column()
        );
        Ok(conn.query_row(&sql, [since * 1000], |r| {
            Ok(Readings {
                n: r.get::<_, i64>(0)?.max(0) as u64,
                sum_x: r.get(1)?,
                sum_y: r.get(2)?,
                sum_xx: r.get(3)?,
                sum_xy: r.get(4)?,
                first_x: r.get::<_, Option<f64>>(5)?.unwrap_or(0.0),
                last_x: r.get::<_, Option<f64>>(6)?.unwrap_or(0.0),
            })
        })?)
    }

    /// `/logs/summary`: totals, per model, and a series of buckets over `window`.
    pub fn summary(&self, window: &str) -> Result<Value, LogError> {
        let (span_ms, bucket_ms): (i64, i64) = match window {
            "1h" => (3_600_000, 60_000),
            "24h" => (86_400_000, 3_600_000),
            "7d" => (7 * 86_400_000, 6 * 3_600_000),
            "30d" => (30 * 86_400_000, 86_400_000),
            other => {
                return Err(LogError::Invalid(format!(
                    "window `{other}` is not one of 1h, 24h, 7d, 30d"
                )))
            }
        };
        let since = (crate::clock::unix_ms() as i64) - span_ms;
        let Some(conn) = self.reader()? else {
            return Ok(
                json!({"window": window, "since": since, "bucket_ms": bucket_ms, "totals": null, "extra_usage": null, "models": [], "series": []}),
            );
        };
        let agg = "COUNT(*) AS requests,
                   SUM(CASE WHEN status >= 400 THEN 1 ELSE 0 END) AS errors,
                   COALESCE(SUM(input_tokens), 0), COALESCE(SUM(output_tokens), 0),
                   COALESCE(SUM(cache_read_tokens), 0), COALESCE(SUM(cache_write_tokens), 0),
                   COALESCE(SUM(cost_usd), 0.0), COALESCE(AVG(duration_ms), 0.0), AVG(ttft_ms)";
        let read = |r: &rusqlite::Row<'_>, at: usize| -> rusqlite::Result<Value> {
            Ok(json!({
                "requests": r.get::<_, i64>(at)?,
                "errors": r.get::<_, Option<i64>>(at + 1)?.unwrap_or(0),
                "input_tokens": r.get::<_, i64>(at + 2)?,
                "output_tokens": r.get::<_, i64>(at + 3)?,
                "cache_read_tokens": r.get::<_, i64>(at + 4)?,
                "cache_write_tokens": r.get::<_, i64>(at + 5)?,
                "cost_usd": r.get::<_, f64>(at + 6)?,
                "avg_duration_ms": r.get::<_, f64>(at + 7)?,
                "avg_ttft_ms": r.get::<_, Option<f64>>(at + 8)?,
            }))
        };
        let totals = conn.query_row(
            &format!("SELECT {agg} FROM requests WHERE ts >= ?1"),
            [since],
            |r| read(r, 0),
        )?;
        let mut stmt = conn.prepare(&format!(
            "SELECT COALESCE(model_served, model_requested, 'unknown'), {agg} FROM requests
                 WHERE ts >= ?1 GROUP BY 1 ORDER BY 2 DESC"
        ))?;
        let models: Vec<Value> = stmt
            .query_map([since], |r| {
                let mut v = read(r, 1)?;
                v["model"] = Value::String(r.get(0)?);
                Ok(v)
            })
            .and_then(|rows| rows.collect())?;
        let mut stmt = conn
            .prepare(&format!(
                "SELECT (ts / ?2) * ?2 AS bucket, {agg} FROM requests WHERE ts >= ?1 GROUP BY 1 ORDER BY 1"
            ))
            ?;
        let series: Vec<Value> = stmt
            .query_map([since, bucket_ms], |r| {
                let mut v = read(r, 1)?;
                v["bucket_start"] = Value::from(r.get::<_, i64>(0)?);
                Ok(v)
            })
            .and_then(|rows| rows.collect())?;
        // What went to extra usage in the window: requests, and their cost at API prices.
        let extra_usage = conn.query_row(
            "SELECT COUNT(*), COALESCE(SUM(cost_usd), 0.0) FROM requests
                 WHERE ts >= ?1 AND billing = 'extra_usage'",
            [since],
            |r| Ok(json!({"requests": r.get::<_, i64>(0)?, "cost_usd": r.get::<_, f64>(1)?})),
        )?;
        Ok(
            json!({"window": window, "since": since, "bucket_ms": bucket_ms, "totals": totals, "extra_usage": extra_usage, "models": models, "series": series}),
        )
    }
}
