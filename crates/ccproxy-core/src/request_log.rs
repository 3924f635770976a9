//! The request log: one SQLite row per request, written off the request path.
//!
//! Requests hand their record to a bounded queue ([`RequestLog::submit`], never blocks; a full
//! queue drops the record and counts it). One writer thread drains the queue in batches: it reads
//! each record's tokens from the upstream body it carries, prices it, updates the token and cost
//! metrics, inserts the batch in one transaction and announces the rows to `/logs/stream`
//! listeners. The database is in WAL mode (readers never block the writer, a crash loses at most
//! the batch in flight), versioned by `PRAGMA user_version`, and trimmed by age and size.
//!
//! Invariant: only this module runs SQL (`schema` writes, `query` reads).

use crate::metrics::Metrics;
use crate::pricing::Pricing;
use crate::record::{BodyKind, RequestRecord};
use bytes::Bytes;
use rusqlite::Connection;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicUsize;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{channel, Sender};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;
use tokio::sync::broadcast;

mod query;
mod schema;
mod writer;

pub use query::{Filter, LogStatus};

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
    tx: RwLock<Option<Sender<Pending>>>,
    /// Records sent and not yet taken by the writer, at most `settings.queue_capacity`: the bound
    /// is counted here rather than by a `sync_channel`, which would allocate every slot up front
    /// (10 000 records, 6 MB held by an idle server); the channel grows and shrinks by blocks.
    queued: Arc<AtomicUsize>,
    settings: LogSettings,
    dropped: AtomicU64,
    live: broadcast::Sender<Arc<RequestRecord>>,
    writer: Mutex<Option<std::thread::JoinHandle<()>>>,
    pause: Arc<Mutex<()>>,
    metrics: Arc<Metrics>,
    health: Arc<Health>,
}

/// What went wrong with storing records, for `/logs/status` (set by the writer).
#[derive(Debug, Default)]
pub struct Health {
    /// Times the database file was found deleted or replaced and a new one was made.
    pub recreated: AtomicU64,
    /// Records that could not be stored.
    pub unstored: AtomicU64,
    /// The latest problem, with its time (Unix ms).
    pub problem: Mutex<Option<(i64, String)>>,
}

impl Health {
    fn report(&self, problem: String) {
        *self.problem.lock().unwrap_or_else(|e| e.into_inner()) =
            Some((crate::clock::unix_ms() as i64, problem));
    }
}

/// Why the log could not answer.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    /// Not kept at all (404).
    #[error(
        "the request log is disabled (observability.enabled or observability.request_log is false)"
    )]
    Disabled,
    /// A filter or parameter the caller got wrong (400).
    #[error("{0}")]
    Invalid(String),
    /// The database failed (500): e.g. the file is not a database.
    #[error("request log: {0}")]
    Database(#[from] rusqlite::Error),
}

impl RequestLog {
    /// Starts the writer thread.
    pub fn start(settings: LogSettings, pricing: Arc<Pricing>, metrics: Arc<Metrics>) -> Arc<Self> {
        let (tx, rx) = channel();
        let queued = Arc::new(AtomicUsize::new(0));
        let (live, _) = broadcast::channel(1024);
        let pause = Arc::new(Mutex::new(()));
        let health = Arc::new(Health::default());
        let writer = {
            let (settings, live, pause, metrics, health) = (
                settings.clone(),
                live.clone(),
                pause.clone(),
                metrics.clone(),
                health.clone(),
            );
            let queue = writer::Queue {
                rx,
                queued: queued.clone(),
            };
            std::thread::Builder::new()
                .name("ccproxy-request-log".into())
                .spawn(move || {
                    writer::writer_loop(queue, settings, pricing, metrics, live, pause, &health)
                })
                .map_err(|e| tracing::error!("request log disabled: cannot start its thread: {e}"))
                .ok()
        };
        Arc::new(Self {
            tx: RwLock::new(writer.is_some().then_some(tx)),
            queued,
            settings,
            dropped: AtomicU64::new(0),
            live,
            writer: Mutex::new(writer),
            pause,
            metrics,
            health,
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
        let full = self.queued.fetch_add(1, Ordering::Relaxed) >= self.settings.queue_capacity;
        let back = if full {
            Some(pending)
        } else {
            tx.send(pending).err().map(|e| e.0)
        };
        let back = back?;
        self.queued.fetch_sub(1, Ordering::Relaxed);
        self.dropped.fetch_add(1, Ordering::Relaxed);
        self.metrics.dropped();
        Some(back)
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

    fn path(&self) -> Result<&Path, LogError> {
        self.settings.path.as_deref().ok_or(LogError::Disabled)
    }

    /// A read-only connection, or `None` while nothing has been stored yet.
    fn reader(&self) -> Result<Option<Connection>, LogError> {
        let path = self.path()?;
        if !path.exists() {
            return Ok(None);
        }
        let conn = schema::open_reader(path)?;
        // A database the writer is still creating or migrating reads as empty, not as an error.
        Ok(schema::is_current(&conn)?.then_some(conn))
    }

    /// Applies retention now (the writer also applies it at start-up and every 10 minutes). Returns the rows deleted.
    pub fn trim_now(&self) -> Result<u64, LogError> {
        let path = self.path()?;
        let conn = schema::open_writer(path)?;
        Ok(schema::trim(&conn, path, &self.settings)?)
    }
}

impl Drop for RequestLog {
    fn drop(&mut self) {
        self.close();
    }
}
