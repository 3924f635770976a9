//! Turns waiting for the client's tool results.
//!
//! When the CLI calls one of the client's tools, the client's response ends with the
//! `tool_use` blocks, and the CLI waits with the `tools/call` pending. The turn is parked here
//! with its lease (process, concurrency slot, session), found again by the `tool_use` ids when
//! the client's next request brings their results, and given up after
//! `claude.tool_result_timeout_secs`: then the turn is interrupted and the process stopped.

use super::{ClaudeCode, Lease};
use ccproxy_protocol::claude_cli::Turn;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// A turn waiting for the results of the client tool calls its last response ended with.
pub struct Parked {
    pub lease: Lease,
    pub turn: Turn,
    /// `history_keys` of the messages the process holds (the request that got the calls).
    pub prefix: Vec<u64>,
    /// The profile the process was started with ([`super::Profile::key`]).
    pub profile: String,
    /// The request log's id of the turn.
    pub turn_id: String,
    /// The session the turn runs in, if any.
    pub session: Option<String>,
}

struct Entry {
    parked: Mutex<Option<Parked>>,
    /// The ids of the calls it waits for.
    calls: HashSet<String>,
    session: Option<String>,
    /// Ends the time-out task when the turn is taken.
    taken: CancellationToken,
}

impl Entry {
    fn take(&self) -> Option<Parked> {
        self.taken.cancel();
        self.parked.lock().unwrap_or_else(|e| e.into_inner()).take()
    }
}

/// The parked turns, by call id.
#[derive(Default)]
pub struct Waiting {
    by_call: Mutex<HashMap<String, Arc<Entry>>>,
}

impl Waiting {
    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Entry>>> {
        self.by_call.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn remove(map: &mut HashMap<String, Arc<Entry>>, entry: &Entry) {
        for id in &entry.calls {
            map.remove(id);
        }
    }

    /// How many turns wait.
    pub fn count(&self) -> usize {
        let map = self.map();
        let mut seen: Vec<*const Entry> = map.values().map(Arc::as_ptr).collect();
        seen.sort_unstable();
        seen.dedup();
        seen.len()
    }

    /// Takes every waiting turn (at shutdown).
    pub fn drain(&self) -> Vec<Parked> {
        let entries: Vec<Arc<Entry>> = self.map().drain().map(|(_, e)| e).collect();
        entries.iter().filter_map(|e| e.take()).collect()
    }

    /// The turn waiting for exactly the calls `ids`. A turn waiting for some of them but not
    /// exactly these is taken too (the client went another way): the caller stops it.
    pub fn take(&self, ids: &[&str]) -> Option<(Parked, bool)> {
        let entry = {
            let mut map = self.map();
            let entry = ids.iter().find_map(|id| map.get(*id).cloned())?;
            Self::remove(&mut map, &entry);
            entry
        };
        let exact =
            entry.calls.len() == ids.len() && ids.iter().all(|id| entry.calls.contains(*id));
        entry.take().map(|p| (p, exact))
    }

    /// Takes the turns waiting in `session` (a request of the session that does not continue
    /// them replaces them).
    pub fn take_session(&self, session: &str) -> Vec<Parked> {
        let entries: Vec<Arc<Entry>> = {
            let mut map = self.map();
            let found: Vec<Arc<Entry>> = map
                .values()
                .filter(|e| e.session.as_deref() == Some(session))
                .cloned()
                .collect();
            for e in &found {
                Self::remove(&mut map, e);
            }
            found
        };
        entries.iter().filter_map(|e| e.take()).collect()
    }
}

impl ClaudeCode {
    /// Parks a turn whose response ended with calls of the client's tools, until the client
    /// sends their results ([`ClaudeCode::resume`]) or `claude.tool_result_timeout_secs` pass.
    pub fn park(self: &Arc<Self>, parked: Parked) {
        let calls: HashSet<String> = parked.turn.calls().iter().cloned().collect();
        if self.stopping.load(std::sync::atomic::Ordering::Relaxed) || calls.is_empty() {
            parked.lease.cancel();
            return;
        }
        let entry = Arc::new(Entry {
            session: parked.session.clone(),
            parked: Mutex::new(Some(parked)),
            calls,
            taken: CancellationToken::new(),
        });
        {
            let mut map = self.waiting.map();
            for id in &entry.calls {
                map.insert(id.clone(), entry.clone());
            }
        }
        let timeout = Duration::from_secs(self.config.claude.tool_result_timeout_secs);
        let weak = Arc::downgrade(self);
        let stop = self.stop.clone();
        self.tasks.spawn(async move {
            tokio::select! {
                () = entry.taken.cancelled() => return,
                () = stop.cancelled() => {}
                () = tokio::time::sleep(timeout) => {
                    tracing::info!(
                        "a Claude Code turn waited {} s for the client's tool results \
                         (claude.tool_result_timeout_secs); stopped",
                        timeout.as_secs()
                    );
                }
            }
            if let Some(cc) = weak.upgrade() {
                Waiting::remove(&mut cc.waiting.map(), &entry);
            }
            if let Some(parked) = entry.take() {
                parked.lease.cancel();
            }
        });
    }

    /// The waiting turn these tool results are for, if it waits for exactly them; a turn
    /// waiting for only some of them is stopped (its conversation went another way).
    pub fn resume(&self, ids: &[&str]) -> Option<Parked> {
        match self.waiting.take(ids)? {
            (parked, true) => Some(parked),
            (parked, false) => {
                parked.lease.cancel();
                None
            }
        }
    }

    /// Stops the turns waiting in `session`: a request of the session that does not continue
    /// them starts over.
    pub fn stop_waiting_in(&self, session: &str) {
        for parked in self.waiting.take_session(session) {
            parked.lease.cancel();
        }
    }

    /// How many turns wait for the client's tool results.
    pub fn waiting_turns(&self) -> usize {
        self.waiting.count()
    }
}
