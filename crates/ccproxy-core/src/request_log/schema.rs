//! The request log's database: the schema and its migrations, opening for writing (WAL,
//! migrated) and reading, the batch insert, and retention by age and size.

use super::{LogSettings, Pending};
use rusqlite::{params, Connection, OpenFlags};
use std::path::Path;
use std::time::Duration;

/// The schema's migrations, in order; `PRAGMA user_version` is how many have run.
const MIGRATIONS: [&str; 7] = [
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
    // 6: the Claude Code turn a request belongs to (tool calls and their results' follow-ups).
    "ALTER TABLE requests ADD COLUMN turn_id TEXT;",
    // 7: who paid (`plan`, `extra_usage`, `unknown`; see `crate::billing`).
    "ALTER TABLE requests ADD COLUMN billing TEXT;",
];

/// Opens (creating and migrating) the database for writing.
pub(super) fn open_writer(path: &Path) -> rusqlite::Result<Connection> {
    // Prompts and replies may be stored here: only the user may read the file and its folder.
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        if !dir.exists() {
            let _ = crate::private::create_dir(dir);
        }
    }
    create_private(path);
    crate::private::restrict_and_warn(path, "the request log");
    let conn = Connection::open(path)?;
    conn.busy_timeout(Duration::from_secs(5))?;
    // auto_vacuum must be chosen before the first table exists.
    conn.pragma_update(None, "auto_vacuum", "INCREMENTAL")?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    // SQLite gives the WAL and shared-memory files the database's mode; older ones are fixed.
    for suffix in ["-wal", "-shm"] {
        let mut side = path.as_os_str().to_owned();
        side.push(suffix);
        crate::private::restrict_and_warn(Path::new(&side), "the request log");
    }
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

/// Creates the database file with mode 0600 if it is missing (SQLite would make it 0644).
fn create_private(path: &Path) {
    let mut options = std::fs::OpenOptions::new();
    options.create_new(true).write(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let _ = options.open(path);
}

/// Whether every migration has run (`user_version` counts them).
pub(super) fn is_current(conn: &Connection) -> rusqlite::Result<bool> {
    let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    Ok(version >= MIGRATIONS.len() as i64)
}

pub(super) fn open_reader(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(Duration::from_secs(5))?;
    Ok(conn)
}

/// Inserts a batch in one transaction (its `BEGIN` and `COMMIT` prepared once, like the insert).
pub(super) fn insert(conn: &mut Connection, batch: &mut [Pending]) -> rusqlite::Result<()> {
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
               quota_5h, quota_7d, request_body, response_body, cli_cost_usd, turn_id, billing)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17,
               ?18, ?19, ?20, ?21, ?22, ?23, ?24, ?25, ?26, ?27, ?28, ?29, ?30, ?31)",
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
                r.turn_id,
                r.billing,
            ])?;
            p.record.id = tx.last_insert_rowid();
        }
    }
    Ok(())
}

pub(super) fn db_bytes(path: &Path) -> u64 {
    let size = |p: &Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    size(path) + size(Path::new(&wal))
}

/// Deletes records past the retention age, then the oldest while the database is too big.
pub(super) fn trim(
    conn: &Connection,
    path: &Path,
    settings: &LogSettings,
) -> rusqlite::Result<u64> {
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

#[cfg(test)]
mod tests {
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
