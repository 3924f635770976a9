//! The request log: one SQLite row per request, written off the request path.
//!
//! Requests hand their record to a bounded queue ([`RequestLog::submit`], never blocks; a full
//! queue drops the record and counts it). One writer thread drains the queue in batches: it reads
//! each record's tokens from the upstream body it carries, prices it, updates the token and cost
//! metrics, inserts the batch in one transaction and announces the rows to `/logs/stream`
//! listeners. The database is in WAL mode (readers never block the writer, a crash loses at most
//! the batch in flight), versioned by `PRAGMA user_version`, and trimmed by age and size.
//!
//! Invariant: only this module runs SQL.

use crate::metrics::Metrics;
use crate::pricing::Pricing;
use crate::record::{BodyKind, RequestRecord};
use bytes::Bytes;
use ccproxy_protocol::anthropic::usage;
use rusqlite::{params, Connection, OpenFlags, OptionalExtension};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};
use tokio::sync::broadcast;

/// A finished request waiting for the writer.
pub struct Pending {
    pub record: RequestRecord,
    /// Upstream's body, to read usage from.
    pub body: Vec<Bytes>,
    pub kind: Option<BodyKind>,
    /// The client's body, when bodies are stored.
    pub request_body: Option<Bytes>,
    /// The request's metric series, to add its tokens and cost to.
    pub metrics: Arc<crate::metrics::Handles>,
}

/// Settings of the log.
#[derive(Debug, Clone)]
pub struct LogSettings {
    /// `None`: records are priced and counted in metrics, but not stored.
    pub path: Option<PathBuf>,
    pub queue_capacity: usize,
    pub retention: Duration,
    pub max_bytes: u64,
    /// Store request and response bodies (redacted, capped at this many bytes each).
    pub store_bodies: Option<usize>,
    /// How the writer prints each record's access line.
    pub access_format: crate::config::LogFormat,
}

/// Handle to the request log and its writer thread.
pub struct RequestLog {
    /// A read lock per submit (uncontended in practice); `close` takes the write lock.
    tx: RwLock<Option<SyncSender<Pending>>>,
    settings: LogSettings,
    dropped: AtomicU64,
    live: broadcast::Sender<Arc<RequestRecord>>,
    writer: Mutex<Option<std::thread::JoinHandle<()>>>,
    pause: Arc<Mutex<()>>,
    metrics: Arc<Metrics>,
}

/// The schema's migrations, in order; `PRAGMA user_version` is how many have run.
const MIGRATIONS: [&str; 5] = [
    // 1: the table.
    "CREATE TABLE IF NOT EXISTS requests (
               id INTEGER PRIMARY KEY AUTOINCREMENT,
               ts INTEGER NOT NULL,
               request_id TEXT NOT NULL,
               mode TEXT NOT NULL,
               surface TEXT NOT NULL,
               method TEXT NOT NULL,
               route TEXT NOT NULL,
               model_requested TEXT,
               model_served TEXT,
               stream INTEGER NOT NULL,
               status INTEGER NOT NULL,
               upstream_status INTEGER,
               duration_ms REAL NOT NULL,
               ttfb_ms REAL,
               ttft_ms REAL,
               input_tokens INTEGER NOT NULL,
               output_tokens INTEGER NOT NULL,
               cache_read_tokens INTEGER NOT NULL,
               cache_write_tokens INTEGER NOT NULL,
               cost_usd REAL,
               user_agent TEXT,
               error_type TEXT,
               client_disconnected INTEGER NOT NULL,
               upstream_request_id TEXT,
               quota_status TEXT,
               quota_5h REAL,
               quota_7d REAL
             );
             CREATE INDEX IF NOT EXISTS requests_ts ON requests(ts);
             CREATE INDEX IF NOT EXISTS requests_model_ts ON requests(model_requested, ts);",
    // 2: stored bodies (`observability.store_bodies`).
    "ALTER TABLE requests ADD COLUMN request_body TEXT;
     ALTER TABLE requests ADD COLUMN response_body TEXT;",
    // 3: Claude Code mode's own cost of a turn.
    "ALTER TABLE requests ADD COLUMN cli_cost_usd REAL;",
    // 4: one index fewer to update per insert; model filters scan the time range instead.
    "DROP INDEX IF EXISTS requests_model_ts;",
    // 5: without AUTOINCREMENT (which reads and writes `sqlite_sequence` on every insert): ids
    // are the largest so far plus one, which only repeats after every row has been deleted.
    "CREATE TABLE requests_v5 (
               id INTEGER PRIMARY KEY,
               ts INTEGER NOT NULL,
               request_id TEXT NOT NULL,
               mode TEXT NOT NULL,
               surface TEXT NOT NULL,
               method TEXT NOT NULL,
               route TEXT NOT NULL,
               model_requested TEXT,
               model_served TEXT,
               stream INTEGER NOT NULL,
               status INTEGER NOT NULL,
               upstream_status INTEGER,
               duration_ms REAL NOT NULL,
               ttfb_ms REAL,
               ttft_ms REAL,
               input_tokens INTEGER NOT NULL,
               output_tokens INTEGER NOT NULL,
               cache_read_tokens INTEGER NOT NULL,
               cache_write_tokens INTEGER NOT NULL,
               cost_usd REAL,
               user_agent TEXT,
               error_type TEXT,
               client_disconnected INTEGER NOT NULL,
               upstream_request_id TEXT,
               quota_status TEXT,
               quota_5h REAL,
               quota_7d REAL,
               request_body TEXT,
               response_body TEXT,
               cli_cost_usd REAL
             );
     INSERT INTO requests_v5 SELECT id, ts, request_id, mode, surface, method, route,
               model_requested, model_served, stream, status, upstream_status, duration_ms,
               ttfb_ms, ttft_ms, input_tokens, output_tokens, cache_read_tokens,
               cache_write_tokens, cost_usd, user_agent, error_type, client_disconnected,
               upstream_request_id, quota_status, quota_5h, quota_7d, request_body,
               response_body, cli_cost_usd FROM requests;
     DROP TABLE requests;
     DELETE FROM sqlite_sequence WHERE name = 'requests';
     ALTER TABLE requests_v5 RENAME TO requests;
     CREATE INDEX requests_ts ON requests(ts);",
];

/// Opens (creating and migrating) the database for writing.
fn open_writer(path: &Path) -> rusqlite::Result<Connection> {
    if let Some(dir) = path.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    let conn = Connection::open(path)?;
    conn.busy_timeout(Duration::from_secs(5))?;
    // auto_vacuum must be chosen before the first table exists.
    conn.pragma_update(None, "auto_vacuum", "INCREMENTAL")?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    // Each migration runs once, in its own transaction, and records its number.
    for (done, sql) in MIGRATIONS.iter().enumerate().skip(version.max(0) as usize) {
        conn.execute_batch(&format!(
            "BEGIN; {sql} PRAGMA user_version = {}; COMMIT;",
            done + 1
        ))?;
    }
    Ok(conn)
}

fn open_reader(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(Duration::from_secs(5))?;
    Ok(conn)
}

/// Reads tokens, model and error type from the upstream body, prices the request, and keeps
/// the bodies when asked to.
fn complete(p: &mut Pending, pricing: &Pricing, store_bodies: Option<usize>) {
    if let Some(cap) = store_bodies {
        p.record.request_body = p
            .request_body
            .take()
            .map(|b| crate::redact::for_storage(&b, cap));
        if !p.body.is_empty() {
            p.record.response_body = Some(crate::redact::for_storage(&p.body.concat(), cap));
        }
    }
    let r = &mut p.record;
    let found = match p.kind {
        Some(BodyKind::Json) => {
            let body: Bytes = match p.body.as_slice() {
                [one] => one.clone(),
                many => many.concat().into(),
            };
            if r.status >= 400 && r.error_type.is_none() {
                r.error_type = serde_json::from_slice::<Value>(&body)
                    .ok()
                    .and_then(|v| v["error"]["type"].as_str().map(String::from));
            }
            usage::from_message(&body)
        }
        Some(BodyKind::Sse) => usage::from_stream(p.body.iter().map(|b| b.as_ref())),
        None => None,
    };
    if let Some(mut u) = found {
        r.input_tokens = u.input_tokens;
        r.output_tokens = u.output_tokens;
        r.cache_read_tokens = u.cache_read_tokens;
        r.cache_write_tokens = u.cache_write_tokens();
        r.model_served = u.model.take().or_else(|| r.model_served.take());
        let model = r.model_served.as_deref().or(r.model_requested.as_deref());
        r.cost_usd = model.and_then(|m| pricing.cost(m, &u));
    }
    p.body = Vec::new();
}

/// Inserts a batch in one transaction (its `BEGIN` and `COMMIT` prepared once, like the insert).
fn insert(conn: &mut Connection, batch: &mut [Pending]) -> rusqlite::Result<()> {
    conn.prepare_cached("BEGIN")?.execute([])?;
    match insert_rows(conn, batch) {
        Ok(()) => conn.prepare_cached("COMMIT")?.execute([]).map(drop),
        Err(e) => {
            let _ = conn.execute_batch("ROLLBACK");
            Err(e)
        }
    }
}

fn insert_rows(tx: &Connection, batch: &mut [Pending]) -> rusqlite::Result<()> {
    {
        let mut stmt = tx.prepare_cached(
            "INSERT INTO requests (ts, request_id, mode, surface, method, route, model_requested,
               model_served, stream, status, upstream_status, duration_ms, ttfb_ms, ttft_ms,
               input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, cost_usd,
               user_agent, error_type, client_disconnected, upstream_request_id, quota_status,
               quota_5h, quota_7d, request_body, response_body, cli_cost_usd)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17,
               ?18, ?19, ?20, ?21, ?22, ?23, ?24, ?25, ?26, ?27, ?28, ?29)",
        )?;
        for p in batch.iter_mut() {
            let r = &p.record;
            stmt.execute(params![
                r.ts,
                r.request_id,
                r.mode,
                r.surface,
                r.method,
                r.route,
                r.model_requested,
                r.model_served,
                r.stream,
                r.status,
                r.upstream_status,
                r.duration_ms,
                r.ttfb_ms,
                r.ttft_ms,
                r.input_tokens as i64,
                r.output_tokens as i64,
                r.cache_read_tokens as i64,
                r.cache_write_tokens as i64,
                r.cost_usd,
                r.user_agent,
                r.error_type,
                r.client_disconnected,
                r.upstream_request_id,
                r.quota_status,
                r.quota_5h_utilization,
                r.quota_7d_utilization,
                r.request_body,
                r.response_body,
                r.cli_cost_usd,
            ])?;
            p.record.id = tx.last_insert_rowid();
        }
    }
    Ok(())
}

fn db_bytes(path: &Path) -> u64 {
    let size = |p: &Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    size(path) + size(Path::new(&wal))
}

/// Deletes records past the retention age, then the oldest while the database is too big.
fn trim(conn: &Connection, path: &Path, settings: &LogSettings) -> rusqlite::Result<u64> {
    let cutoff = (crate::clock::unix_ms() as i64) - settings.retention.as_millis() as i64;
    let mut deleted = conn.execute("DELETE FROM requests WHERE ts < ?1", [cutoff])? as u64;
    for _ in 0..20 {
        conn.pragma_update(None, "wal_checkpoint", "TRUNCATE")?;
        conn.pragma_update(None, "incremental_vacuum", 0)?;
        if db_bytes(path) <= settings.max_bytes {
            break;
        }
        let rows: i64 = conn.query_row("SELECT COUNT(*) FROM requests", [], |r| r.get(0))?;
        if rows == 0 {
            break;
        }
        let n = (rows / 10).max(1);
        deleted += conn.execute(
            "DELETE FROM requests WHERE id IN (SELECT id FROM requests ORDER BY id LIMIT ?1)",
            [n],
        )? as u64;
    }
    Ok(deleted)
}

/// Lowers this thread's scheduling priority (Linux: nice +5, this thread only), so requests
/// win the CPU when both want it — the writer's work never delays one — while the writer
/// still gets enough to keep up at saturation.
fn background_priority() {
    #[cfg(target_os = "linux")]
    // SAFETY: setpriority has no memory-safety preconditions; on Linux `who = 0` with
    // PRIO_PROCESS is the calling thread.
    unsafe {
        libc::setpriority(libc::PRIO_PROCESS, 0, 5);
    }
}

/// The most records one transaction stores.
const MAX_BATCH: usize = 512;
/// How long the writer waits for more records before storing a batch.
const LINGER: Duration = Duration::from_millis(25);

fn writer_loop(
    rx: Receiver<Pending>,
    settings: LogSettings,
    pricing: Arc<Pricing>,
    metrics: Arc<Metrics>,
    live: broadcast::Sender<Arc<RequestRecord>>,
    pause: Arc<Mutex<()>>,
) {
    background_priority();
    let mut conn = settings.path.as_deref().and_then(|path| match open_writer(path) {
        Ok(c) => Some(c),
        Err(e) => {
            tracing::error!(path = %path.display(), "request log disabled: cannot open the database: {e}");
            None
        }
    });
    // Retention is applied at start-up, then at most every 10 minutes after a batch.
    if let (Some(c), Some(path)) = (conn.as_ref(), settings.path.as_deref()) {
        if let Err(e) = trim(c, path, &settings) {
            tracing::warn!(path = %path.display(), "request log: trimming failed: {e}");
        }
    }
    let mut last_trim = Instant::now();
    while let Ok(first) = rx.recv() {
        let _paused = pause.lock().unwrap_or_else(|e| e.into_inner());
        // Gather a batch: whatever is queued, then, after a short sleep, what arrived meanwhile
        // — so one transaction (one WAL append) carries many records under load, and records
        // arriving during the linger do not each wake this thread.
        let mut batch = Vec::with_capacity(64);
        batch.push(first);
        batch.extend(rx.try_iter().take(MAX_BATCH - 1));
        if batch.len() < MAX_BATCH {
            std::thread::sleep(LINGER);
            batch.extend(rx.try_iter().take(MAX_BATCH - batch.len()));
        }
        let mut lines = crate::access_log::Lines::new(settings.access_format);
        for p in &mut batch {
            complete(p, &pricing, settings.store_bodies);
            metrics.usage(&p.metrics, &p.record);
            lines.push(&p.record);
        }
        lines.write();
        if let Some(c) = conn.as_mut() {
            if let Err(e) = insert(c, &mut batch) {
                tracing::error!("request log: could not store {} records: {e}", batch.len());
                continue;
            }
            if last_trim.elapsed() > Duration::from_secs(600) {
                last_trim = Instant::now();
                if let Some(path) = settings.path.as_deref() {
                    if let Err(e) = trim(c, path, &settings) {
                        tracing::warn!(path = %path.display(), "request log: trimming failed: {e}");
                    }
                }
            }
        }
        if live.receiver_count() > 0 {
            for p in batch {
                let _ = live.send(Arc::new(p.record));
            }
        }
    }
}

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
            && self.model.as_deref().is_none_or(|m| {
                r.model_requested.as_deref() == Some(m) || r.model_served.as_deref() == Some(m)
            })
    }

    fn where_sql(&self) -> Result<(String, Vec<rusqlite::types::Value>), String> {
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
                let exact: i64 = s
                    .parse()
                    .map_err(|_| format!("status `{s}` is not 2xx, 4xx, 5xx or a status code"))?;
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

fn row_record(row: &rusqlite::Row<'_>) -> rusqlite::Result<RequestRecord> {
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
        user_agent: row.get("user_agent")?,
        error_type: row.get("error_type")?,
        client_disconnected: row.get("client_disconnected")?,
        upstream_request_id: row.get("upstream_request_id")?,
        quota_status: row.get("quota_status")?,
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
}

impl RequestLog {
    /// Starts the writer thread.
    pub fn start(settings: LogSettings, pricing: Arc<Pricing>, metrics: Arc<Metrics>) -> Arc<Self> {
        let (tx, rx) = sync_channel(settings.queue_capacity);
        let (live, _) = broadcast::channel(1024);
        let pause = Arc::new(Mutex::new(()));
        let writer = {
            let (settings, live, pause, metrics) = (
                settings.clone(),
                live.clone(),
                pause.clone(),
                metrics.clone(),
            );
            std::thread::Builder::new()
                .name("ccproxy-request-log".into())
                .spawn(move || writer_loop(rx, settings, pricing, metrics, live, pause))
                .map_err(|e| tracing::error!("request log disabled: cannot start its thread: {e}"))
                .ok()
        };
        Arc::new(Self {
            tx: RwLock::new(writer.is_some().then_some(tx)),
            settings,
            dropped: AtomicU64::new(0),
            live,
            writer: Mutex::new(writer),
            pause,
            metrics,
        })
    }

    /// Queues a finished request. Never blocks: a full queue drops the record and counts it.
    /// Gives the record back if it was not queued (the queue was full or the log closed:
    /// counted as dropped), for the caller to print its access line.
    #[must_use]
    pub fn submit(&self, pending: Pending) -> Option<Pending> {
        let tx = self.tx.read().unwrap_or_else(|e| e.into_inner());
        let Some(tx) = tx.as_ref() else {
            return Some(pending);
        };
        let e = tx.try_send(pending).err()?;
        self.dropped.fetch_add(1, Ordering::Relaxed);
        self.metrics.dropped();
        match e {
            TrySendError::Full(p) | TrySendError::Disconnected(p) => Some(p),
        }
    }

    /// Records dropped because the queue was full.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// New records as they are stored.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<RequestRecord>> {
        self.live.subscribe()
    }

    /// Holds the writer until the guard is dropped (maintenance, and tests of a full queue).
    pub fn pause(&self) -> std::sync::MutexGuard<'_, ()> {
        self.pause.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Stops the writer after it has stored everything queued.
    pub fn close(&self) {
        self.tx.write().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(writer) = self.writer.lock().unwrap_or_else(|e| e.into_inner()).take() {
            let _ = writer.join();
        }
    }

    fn path(&self) -> Result<&Path, String> {
        self.settings.path.as_deref().ok_or_else(|| {
            "the request log is disabled (observability.enabled or observability.request_log is false)".to_string()
        })
    }

    fn reader(&self) -> Result<Option<Connection>, String> {
        let path = self.path()?;
        if !path.exists() {
            return Ok(None);
        }
        open_reader(path)
            .map(Some)
            .map_err(|e| format!("request log: {e}"))
    }

    /// `/logs/status`
    pub fn status(&self) -> Result<LogStatus, String> {
        let (rows, oldest, newest) = match self.reader()? {
            Some(conn) => conn
                .query_row("SELECT COUNT(*), MIN(ts), MAX(ts) FROM requests", [], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                })
                .optional()
                .map_err(|e| e.to_string())?
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
        })
    }

    /// `/logs/query`: newest first, a page at a time.
    pub fn query(&self, filter: &Filter) -> Result<Value, String> {
        let limit = filter.limit.unwrap_or(100);
        if limit == 0 || limit > 1000 {
            return Err("limit must be between 1 and 1000".into());
        }
        let Some(conn) = self.reader()? else {
            return Ok(json!({"data": [], "next_cursor": null}));
        };
        let (where_sql, mut args) = filter.where_sql()?;
        args.push(rusqlite::types::Value::Integer(i64::from(limit)));
        let sql = format!("SELECT * FROM requests {where_sql} ORDER BY id DESC LIMIT ?");
        let mut stmt = conn.prepare(&sql).map_err(|e| e.to_string())?;
        let mut rows: Vec<RequestRecord> = stmt
            .query_map(rusqlite::params_from_iter(args), row_record)
            .and_then(|rows| rows.collect())
            .map_err(|e| e.to_string())?;
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

    /// `/logs/summary`: totals, per model, and a series of buckets over `window`.
    pub fn summary(&self, window: &str) -> Result<Value, String> {
        let (span_ms, bucket_ms): (i64, i64) = match window {
            "1h" => (3_600_000, 60_000),
            "24h" => (86_400_000, 3_600_000),
            "7d" => (7 * 86_400_000, 6 * 3_600_000),
            "30d" => (30 * 86_400_000, 86_400_000),
            other => return Err(format!("window `{other}` is not one of 1h, 24h, 7d, 30d")),
        };
        let since = (crate::clock::unix_ms() as i64) - span_ms;
        let Some(conn) = self.reader()? else {
            return Ok(
                json!({"window": window, "since": since, "bucket_ms": bucket_ms, "totals": null, "models": [], "series": []}),
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
        let totals = conn
            .query_row(
                &format!("SELECT {agg} FROM requests WHERE ts >= ?1"),
                [since],
                |r| read(r, 0),
            )
            .map_err(|e| e.to_string())?;
        let mut stmt = conn
            .prepare(&format!(
                "SELECT COALESCE(model_served, model_requested, 'unknown'), {agg} FROM requests
                 WHERE ts >= ?1 GROUP BY 1 ORDER BY 2 DESC"
            ))
            .map_err(|e| e.to_string())?;
        let models: Vec<Value> = stmt
            .query_map([since], |r| {
                let mut v = read(r, 1)?;
                v["model"] = Value::String(r.get(0)?);
                Ok(v)
            })
            .and_then(|rows| rows.collect())
            .map_err(|e| e.to_string())?;
        let mut stmt = conn
            .prepare(&format!(
                "SELECT (ts / ?2) * ?2 AS bucket, {agg} FROM requests WHERE ts >= ?1 GROUP BY 1 ORDER BY 1"
            ))
            .map_err(|e| e.to_string())?;
        let series: Vec<Value> = stmt
            .query_map([since, bucket_ms], |r| {
                let mut v = read(r, 1)?;
                v["bucket_start"] = Value::from(r.get::<_, i64>(0)?);
                Ok(v)
            })
            .and_then(|rows| rows.collect())
            .map_err(|e| e.to_string())?;
        Ok(
            json!({"window": window, "since": since, "bucket_ms": bucket_ms, "totals": totals, "models": models, "series": series}),
        )
    }

    /// Applies retention now (the writer also applies it at start-up and every 10 minutes). Returns the rows deleted.
    pub fn trim_now(&self) -> Result<u64, String> {
        let path = self.path()?;
        let conn = open_writer(path).map_err(|e| e.to_string())?;
        trim(&conn, path, &self.settings).map_err(|e| e.to_string())
    }
}

impl Drop for RequestLog {
    fn drop(&mut self) {
        self.close();
    }
}

#[cfg(test)]
mod migration_tests {
    use super::*;

    #[test]
    fn an_older_database_is_migrated_and_keeps_its_rows() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.db");
        {
            let conn = Connection::open(&path).unwrap();
            conn.execute_batch(&format!("{} PRAGMA user_version = 1;", MIGRATIONS[0]))
                .unwrap();
            conn.execute(
                "INSERT INTO requests (ts, request_id, mode, surface, method, route, stream, status,
                   duration_ms, input_tokens, output_tokens, cache_read_tokens, cache_write_tokens,
                   client_disconnected) VALUES (1, 'r', 'api', 'anthropic', 'POST', '/x', 0, 200,
                   1.0, 1, 2, 0, 0, 0)",
                [],
            )
            .unwrap();
        }
        let conn = open_writer(&path).unwrap();
        let version: i64 = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(version, MIGRATIONS.len() as i64);
        let (rows, cost): (i64, Option<f64>) = conn
            .query_row(
                "SELECT COUNT(*), MAX(cli_cost_usd) FROM requests",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        assert_eq!((rows, cost), (1, None));
        let index: i64 = conn
            .query_row(
                "SELECT COUNT(*) FROM sqlite_master WHERE name = 'requests_model_ts'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(index, 0);
        // Rebuilt without AUTOINCREMENT, its rows and the time index kept.
        let (sql, ts_index): (String, i64) = conn
            .query_row(
                "SELECT sql, (SELECT COUNT(*) FROM sqlite_master WHERE name = 'requests_ts')
                 FROM sqlite_master WHERE name = 'requests'",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        assert!(!sql.contains("AUTOINCREMENT"), "{sql}");
        assert_eq!(ts_index, 1);
        drop(conn);
        // Opening again runs nothing more.
        open_writer(&path).unwrap();
    }
}
