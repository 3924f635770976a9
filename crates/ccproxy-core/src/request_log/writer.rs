//! The writer thread: drains the queue in batches, reads each record's tokens from the
//! upstream body it carries, prices it, updates the metrics, prints the access lines, stores the
//! batch in one transaction and announces the rows to `/logs/stream` listeners.

use super::schema::{insert, open_writer, trim};
use super::{Health, LogSettings, Pending};
use crate::metrics::Metrics;
use crate::pricing::Pricing;
use crate::record::{BodyKind, RequestRecord};
use bytes::Bytes;
use ccproxy_protocol::anthropic::usage;
use serde_json::Value;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::Receiver;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::broadcast;

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

/// Lowers this thread's scheduling priority (Linux: nice +5, this thread only), so requests
/// win the CPU when both want it — the writer's work never delays one — while the writer
/// still gets enough to keep up at saturation.
fn background_priority() {
    #[cfg(target_os = "linux")]
    // SAFETY: setpriority has no memory-safety preconditions; on Linux `who = 0` with
    // PRIO_PROCESS is the calling thread.
    #[allow(unsafe_code)]
    unsafe {
        libc::setpriority(libc::PRIO_PROCESS, 0, 5);
    }
}

/// The most records one transaction stores.
const MAX_BATCH: usize = 512;
/// How long the writer waits for more records before storing a batch.
const LINGER: Duration = Duration::from_millis(25);

/// The writer's end of the record queue: the channel, and the count it takes records off.
pub(super) struct Queue {
    pub rx: Receiver<Pending>,
    pub queued: Arc<AtomicUsize>,
}

pub(super) fn writer_loop(
    queue: Queue,
    settings: LogSettings,
    pricing: Arc<Pricing>,
    metrics: Arc<Metrics>,
    live: broadcast::Sender<Arc<RequestRecord>>,
    pause: Arc<Mutex<()>>,
    health: &Health,
) {
    background_priority();
    let mut identity = settings.path.as_deref().and_then(file_identity);
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
    if conn.is_some() {
        identity = settings.path.as_deref().and_then(file_identity);
    }
    let mut last_trim = Instant::now();
    let Queue { rx, queued } = queue;
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
        queued.fetch_sub(batch.len(), Ordering::Relaxed);
        let mut lines = crate::access_log::Lines::new(settings.access_format);
        for p in &mut batch {
            complete(p, &pricing, settings.store_bodies);
            metrics.usage(&p.metrics, &p.record);
            lines.push(&p.record);
        }
        lines.write();
        // A database deleted or replaced under the writer would swallow every record written
        // to it: make a new one first (one stat per batch).
        if let (Some(path), true) = (settings.path.as_deref(), conn.is_some()) {
            let now = file_identity(path);
            if now.is_none() || now != identity {
                let problem = format!(
                    "the request log {} was deleted or replaced while in use; a new one was made \
                     (the records it held are gone)",
                    path.display()
                );
                tracing::warn!("{problem}");
                health.recreated.fetch_add(1, Ordering::Relaxed);
                health.report(problem);
                conn = match open_writer(path) {
                    Ok(c) => Some(c),
                    Err(e) => {
                        tracing::error!(path = %path.display(), "request log: cannot make a new database: {e}");
                        None
                    }
                };
                identity = file_identity(path);
            }
        }
        if let Some(c) = conn.as_mut() {
            if let Err(e) = insert(c, &mut batch) {
                tracing::error!("request log: could not store {} records: {e}", batch.len());
                health
                    .unstored
                    .fetch_add(batch.len() as u64, Ordering::Relaxed);
                health.report(format!("could not store {} records: {e}", batch.len()));
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

/// Which file `path` is (device and inode), to notice it being deleted or replaced.
fn file_identity(path: &Path) -> Option<(u64, u64)> {
    let meta = std::fs::metadata(path).ok()?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        Some((meta.dev(), meta.ino()))
    }
    #[cfg(not(unix))]
    {
        // No inodes: only a deleted file is noticed.
        let _ = meta;
        Some((0, 0))
    }
}
