//! Claude Code mode's process management: finding the CLI, the warm pool, the concurrency
//! limit and sessions. The exchange (`exchange::turn`) leases a process here for each turn.
//!
//! - **Warm pool.** A process costs ~0.25 s to start and initialize, and its [`Profile`] (system
//!   prompt, the client's tools) is fixed at start. The pool keeps up to `claude.pool_size`
//!   initialized processes, keyed by profile: every lease of a key starts a replacement for that key in
//!   the background once its turn is over (evicting the oldest warm process of another key when
//!   full), on the model that request asked for, so the prompts and models clients actually send
//!   are the ones kept warm and a warm turn needs no `set_model` round trip. It fills on first use of `/sdk` (or at
//!   start-up with `claude.prewarm`), and processes idle for `claude.pool_idle_secs` are stopped.
//!   A process serves one stateless request and is then stopped: its context holds that
//!   conversation.
//! - **Limit.** `claude.max_concurrent` turns run at once; up to `claude.max_queued` more wait
//!   (up to `claude.queue_timeout_secs`, then 503); beyond that, 429 at once.
//! - **Sessions.** `/sdk/{session}/…` keeps one process per session id, so a follow-up sends only
//!   the new message. Each session remembers its history's keys
//!   ([`ccproxy_protocol::claude_cli::history_keys`]); a request whose history is not exactly
//!   the session's plus one user message starts the session over with the full transcript.
//! - **Waiting turns.** A turn that called the client's tools keeps its process, slot (and
//!   session) while it waits for the client's next request with the results ([`waiting`]), for
//!   at most `claude.tool_result_timeout_secs`.

pub mod docker;
pub mod locate;
pub mod process;
pub mod waiting;

use crate::config::{Config, Isolation};
use ccproxy_protocol::claude_cli::tools::ClientTools;
use locate::{CliInfo, LocateError};
use process::{CliProcess, Settings};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{OwnedMutexGuard, OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Why a lease was refused, with the status to answer.
#[derive(Debug)]
pub enum LeaseError {
    /// No usable CLI (503).
    Unavailable(String),
    /// The queue is full (429).
    Busy(String),
    /// Waited too long for a slot (503).
    Timeout(String),
    /// The process could not be started (502).
    Spawn(String),
}

/// What a process is started with and cannot change afterwards: its system prompt and the
/// client's tools it offers (the CLI lists them once).
#[derive(Debug, Clone)]
pub struct Profile {
    pub system: String,
    pub tools: Option<Arc<ClientTools>>,
    /// Equal for equal profiles.
    key: String,
}

impl Profile {
    pub fn new(system: &str, tools: Option<ClientTools>) -> Self {
        let key = match &tools {
            None => system.to_string(),
            Some(t) => format!("{system}\0{}", t.fingerprint()),
        };
        Self {
            system: system.to_string(),
            tools: tools.map(Arc::new),
            key,
        }
    }

    /// Equal for processes that can serve each other's requests.
    pub fn key(&self) -> &str {
        &self.key
    }
}

struct Warm {
    profile: Profile,
    process: CliProcess,
    since: Instant,
}

#[derive(Default)]
struct Pool {
    warm: Vec<Warm>,
    spawning: usize,
}

/// One session's process and what it has heard.
pub struct Session {
    pub process: Option<CliProcess>,
    /// `history_keys` of the conversation the process holds.
    pub keys: Vec<u64>,
    /// The process's [`Profile::key`].
    pub profile: String,
    pub last_used: Instant,
}

/// Claude Code mode's shared state.
pub struct ClaudeCode {
    config: Arc<Config>,
    probe: tokio::sync::Mutex<Option<(Instant, Result<CliInfo, LocateError>)>>,
    pool: Mutex<Pool>,
    slots: Arc<Semaphore>,
    queued: AtomicUsize,
    sessions: Mutex<HashMap<String, Arc<tokio::sync::Mutex<Session>>>>,
    /// The latest `initialize` answer.
    init: Mutex<Option<Value>>,
    used: AtomicBool,
    stopping: AtomicBool,
    /// Every task Claude Code mode starts (warming, stopping processes, interrupted turns, the
    /// reaper): [`ClaudeCode::shutdown`] waits for all of them.
    tasks: TaskTracker,
    /// Ends the reaper at once on shutdown.
    stop: CancellationToken,
    /// Turns waiting for the client's tool results.
    waiting: waiting::Waiting,
}

/// A process for one turn, holding a concurrency slot; see [`ClaudeCode::lease`].
pub struct Lease {
    pub process: CliProcess,
    /// A warm process to start once this turn is over (not during it: on a small machine the
    /// start-up of a CLI would slow the turn's first token).
    refill: RefillLater,
    /// Messages the process already holds (send only the rest).
    pub skip: usize,
    pub session: Option<OwnedMutexGuard<Session>>,
    pub permit: OwnedSemaphorePermit,
    /// Where the process is stopped after the turn (owned by [`ClaudeCode`]).
    tasks: TaskTracker,
}

impl ClaudeCode {
    pub fn new(config: Arc<Config>) -> Arc<Self> {
        let slots = Arc::new(Semaphore::new(config.claude.max_concurrent));
        let cc = Arc::new(Self {
            config,
            probe: tokio::sync::Mutex::new(None),
            pool: Mutex::default(),
            slots,
            queued: AtomicUsize::new(0),
            sessions: Mutex::default(),
            init: Mutex::new(None),
            used: AtomicBool::new(false),
            stopping: AtomicBool::new(false),
            tasks: TaskTracker::new(),
            stop: CancellationToken::new(),
            waiting: waiting::Waiting::default(),
        });
        cc.clone().start_background();
        cc
    }

    /// Probes the CLI in the background (start-up never waits for it), warms the pool when
    /// `claude.prewarm` is set, and reaps idle processes and sessions.
    fn start_background(self: Arc<Self>) {
        let weak = Arc::downgrade(&self);
        let stop = self.stop.clone();
        self.tasks.spawn(async move {
            let Some(cc) = weak.upgrade() else { return };
            match cc.cli().await {
                Ok(info) => {
                    match &info.image {
                        Some(image) => {
                            tracing::info!(
                                "Claude Code mode: claude {} in the Docker image {image}",
                                info.version.as_deref().unwrap_or("?"),
                            );
                            docker::remove_leftovers(&info.path).await;
                        }
                        None => tracing::info!(
                            "Claude Code mode: claude {} at {}",
                            info.version.as_deref().unwrap_or("?"),
                            info.path.display()
                        ),
                    }
                    if cc.config.claude.permission_mode
                        == crate::config::PermissionMode::BypassPermissions
                    {
                        tracing::warn!(
                            "Claude Code mode runs with permission_mode = bypassPermissions: the CLI \
                             runs ANY tool and command a request leads it to, without asking, in {}",
                            cc.settings(&info).cwd.display()
                        );
                    }
                    if cc.config.claude.prewarm {
                        cc.used.store(true, Ordering::Relaxed);
                        cc.refill(&Profile::new("", None), None);
                    }
                }
                Err(e) => tracing::warn!("Claude Code mode (/sdk) is unavailable: {e}"),
            }
            drop(cc);
            let mut tick = tokio::time::interval(Duration::from_secs(5));
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    () = stop.cancelled() => return,
                }
                let Some(cc) = weak.upgrade() else { return };
                if cc.stopping.load(Ordering::Relaxed) {
                    return;
                }
                cc.reap();
            }
        });
    }

    /// The CLI (probed once; a failure is retried after 10 s, so installing the CLI later works).
    pub async fn cli(&self) -> Result<CliInfo, LocateError> {
        let mut probe = self.probe.lock().await;
        let cached = match &*probe {
            Some((_, Ok(info))) => Some(Ok(info.clone())),
            Some((at, Err(e))) if at.elapsed() < Duration::from_secs(10) => Some(Err(e.clone())),
            _ => None,
        };
        let result = match cached {
            Some(result) => result,
            None => {
                let result = match self.config.claude.isolation {
                    Isolation::None => {
                        locate::probe(self.config.claude.cli_path.as_deref(), &self.config.env)
                            .await
                    }
                    Isolation::Docker => docker::probe(&self.config).await,
                };
                *probe = Some((Instant::now(), result.clone()));
                result
            }
        };
        match &result {
            Ok(info) => match &info.problem {
                Some(problem) => Err(LocateError::Unusable(problem.clone())),
                None => Ok(info.clone()),
            },
            Err(e) => Err(e.clone()),
        }
    }

    /// What `GET /sdk/status` reports about the CLI, without probing again.
    pub async fn cli_status(&self) -> Value {
        let probe = self.probe.lock().await;
        let isolation = self.config.claude.isolation;
        let mut status = match &*probe {
            None => json!({"found": null, "state": "probing"}),
            Some((_, Err(e))) => json!({"found": false, "problem": e.to_string()}),
            Some((_, Ok(info))) => json!({
                "found": true,
                "path": info.path,
                "version": info.version,
                "usable": info.problem.is_none(),
                "problem": info.problem,
            }),
        };
        status["isolation"] = json!(isolation.as_str());
        if isolation == Isolation::Docker {
            status["image"] = json!(self.config.claude.docker.image);
        }
        status
    }

    fn settings(&self, info: &CliInfo) -> Settings {
        let c = &self.config.claude;
        Settings {
            path: info.path.clone(),
            cwd: self
                .config
                .workspace()
                .unwrap_or_else(|| std::env::temp_dir().join("ccproxy-workspace")),
            allowed_tools: c.allowed_tools.clone(),
            disallowed_tools: c.disallowed_tools.clone(),
            permission_mode: c.permission_mode.as_str(),
            max_turns: c.max_turns,
            mcp_config: c.mcp_config.clone(),
            silence: Duration::from_secs(c.read_timeout_secs.max(1)),
            builtin_tools_with_client_tools: c.builtin_tools_with_client_tools,
            tool_timeout: Duration::from_secs(c.tool_result_timeout_secs + 60),
            skip_user_settings: crate::client_setup::claude_code_points_at_ccproxy(
                &self.config.env,
            ),
            container: (self.config.claude.isolation == Isolation::Docker)
                .then(|| Arc::new(docker::Container::new(&self.config, info.path.clone()))),
        }
    }

    /// Starts and initializes a process for `profile`, on `model`.
    async fn spawn(
        &self,
        profile: &Profile,
        model: Option<&str>,
    ) -> Result<CliProcess, LeaseError> {
        let info = self
            .cli()
            .await
            .map_err(|e| LeaseError::Unavailable(e.to_string()))?;
        let settings = self.settings(&info);
        std::fs::create_dir_all(&settings.cwd).map_err(|e| {
            LeaseError::Spawn(format!(
                "cannot create the CLI's working directory {}: {e}",
                settings.cwd.display()
            ))
        })?;
        let process = CliProcess::spawn(&settings, &profile.system, model, profile.tools.clone())
            .await
            .map_err(|e| LeaseError::Spawn(e.to_string()))?;
        *self.init.lock().unwrap_or_else(|e| e.into_inner()) = Some(process.init.clone());
        Ok(process)
    }

    /// Starts warm processes for `profile` in the background until the pool is full (making room
    /// by stopping the oldest warm processes of other profiles).
    fn refill(self: &Arc<Self>, profile: &Profile, model: Option<&str>) {
        let key = profile.key();
        let size = self.config.claude.pool_size;
        if size == 0 || self.stopping.load(Ordering::Relaxed) {
            return;
        }
        let (evicted, starts) = {
            let mut pool = self.pool.lock().unwrap_or_else(|e| e.into_inner());
            let of_key = pool.warm.iter().filter(|w| w.profile.key() == key).count();
            let wanted = size.saturating_sub(of_key + pool.spawning);
            let mut evicted = Vec::new();
            let mut starts = 0;
            for _ in 0..wanted {
                if pool.warm.len() + pool.spawning >= size {
                    let oldest = pool
                        .warm
                        .iter()
                        .enumerate()
                        .filter(|(_, w)| w.profile.key() != key)
                        .min_by_key(|(_, w)| w.since)
                        .map(|(i, _)| i);
                    match oldest {
                        Some(i) => evicted.push(pool.warm.remove(i).process),
                        None => break,
                    }
                }
                pool.spawning += 1;
                starts += 1;
            }
            (evicted, starts)
        };
        for p in evicted {
            self.tasks.spawn(p.shutdown());
        }
        for _ in 0..starts {
            let cc = self.clone();
            let profile = profile.clone();
            let model = model.map(String::from);
            self.tasks.spawn(async move {
                let spawned = cc.spawn(&profile, model.as_deref()).await;
                let leftover = {
                    let mut pool = cc.pool.lock().unwrap_or_else(|e| e.into_inner());
                    pool.spawning -= 1;
                    match spawned {
                        Ok(process) if !cc.stopping.load(Ordering::Relaxed) => {
                            pool.warm.push(Warm {
                                profile,
                                process,
                                since: Instant::now(),
                            });
                            None
                        }
                        Ok(process) => Some(process),
                        Err(e) => {
                            tracing::warn!("could not warm a claude CLI process: {e:?}");
                            None
                        }
                    }
                };
                if let Some(process) = leftover {
                    process.shutdown().await;
                }
            });
        }
    }

    /// A warm process for `profile` (on `model` if there is one), else a new one, and whether
    /// the pool should be refilled after the turn.
    async fn process_for(
        self: &Arc<Self>,
        profile: &Profile,
        model: Option<&str>,
    ) -> Result<(CliProcess, RefillLater), LeaseError> {
        let key = profile.key();
        self.used.store(true, Ordering::Relaxed);
        let warm = {
            let mut pool = self.pool.lock().unwrap_or_else(|e| e.into_inner());
            let mut found = None;
            let pick = |pool: &Pool| {
                pool.warm
                    .iter()
                    .position(|w| w.profile.key() == key && w.process.model.as_deref() == model)
                    .or_else(|| pool.warm.iter().position(|w| w.profile.key() == key))
            };
            while let Some(i) = pick(&pool) {
                let mut w = pool.warm.remove(i);
                if w.process.is_alive() {
                    found = Some(w.process);
                    break;
                }
            }
            found
        };
        let later = Some((self.clone(), profile.clone(), model.map(String::from)));
        match warm {
            Some(p) => Ok((p, later)),
            None => {
                // Nothing warm: the request pays for a start anyway; warm the pool alongside.
                self.refill(profile, model);
                Ok((self.spawn(profile, model).await?, None))
            }
        }
    }

    /// Waits for a concurrency slot (bounded queue).
    async fn slot(&self) -> Result<OwnedSemaphorePermit, LeaseError> {
        if let Ok(permit) = self.slots.clone().try_acquire_owned() {
            return Ok(permit);
        }
        let c = &self.config.claude;
        if self.queued.fetch_add(1, Ordering::SeqCst) >= c.max_queued {
            self.queued.fetch_sub(1, Ordering::SeqCst);
            return Err(LeaseError::Busy(format!(
                "Claude Code mode is busy: {} requests running and {} waiting \
                 (claude.max_concurrent, claude.max_queued); retry shortly",
                c.max_concurrent, c.max_queued
            )));
        }
        let waited = tokio::time::timeout(
            Duration::from_secs(c.queue_timeout_secs),
            self.slots.clone().acquire_owned(),
        )
        .await;
        self.queued.fetch_sub(1, Ordering::SeqCst);
        match waited {
            Ok(Ok(permit)) => Ok(permit),
            _ => Err(LeaseError::Timeout(format!(
                "no Claude Code slot became free within {} s (claude.queue_timeout_secs)",
                c.queue_timeout_secs
            ))),
        }
    }

    /// A process for a turn of `messages` (keys from `history_keys`) with `profile`, in
    /// `session` when given.
    pub async fn lease(
        self: &Arc<Self>,
        profile: &Profile,
        model: Option<&str>,
        keys: &[u64],
        session: Option<&str>,
    ) -> Result<Lease, LeaseError> {
        self.cli()
            .await
            .map_err(|e| LeaseError::Unavailable(e.to_string()))?;
        let permit = self.slot().await?;
        let Some(id) = session else {
            let (process, refill) = self.process_for(profile, model).await?;
            return Ok(Lease {
                tasks: self.tasks.clone(),
                process,
                refill,
                skip: 0,
                session: None,
                permit,
            });
        };
        let cell = self.session(id);
        let mut s = cell.lock_owned().await;
        s.last_used = Instant::now();
        let holds_prefix = s.profile == profile.key()
            && !s.keys.is_empty()
            && s.keys.len() + 1 == keys.len()
            && keys.starts_with(&s.keys);
        let reusable = if holds_prefix {
            s.process.take_if(|p| p.is_alive())
        } else {
            None
        };
        let (process, skip, refill) = if let Some(process) = reusable {
            (process, s.keys.len(), None)
        } else {
            if let Some(old) = s.process.take() {
                self.tasks.spawn(old.shutdown());
            }
            s.keys.clear();
            s.profile = profile.key().to_string();
            let (process, refill) = self.process_for(profile, model).await?;
            (process, 0, refill)
        };
        Ok(Lease {
            tasks: self.tasks.clone(),
            process,
            refill,
            skip,
            session: Some(s),
            permit,
        })
    }

    /// The session `id`, created if new (closing the least recently used one when full).
    fn session(&self, id: &str) -> Arc<tokio::sync::Mutex<Session>> {
        let mut sessions = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(s) = sessions.get(id) {
            return s.clone();
        }
        if sessions.len() >= self.config.claude.max_sessions {
            let oldest = sessions
                .iter()
                .filter_map(|(k, s)| s.try_lock().ok().map(|s| (k.clone(), s.last_used)))
                .min_by_key(|(_, t)| *t)
                .map(|(k, _)| k);
            if let Some(k) = oldest {
                if let Some(s) = sessions.remove(&k) {
                    close_session(&self.tasks, s);
                }
            }
        }
        let s = Arc::new(tokio::sync::Mutex::new(Session {
            process: None,
            keys: Vec::new(),
            profile: String::new(),
            last_used: Instant::now(),
        }));
        sessions.insert(id.to_string(), s.clone());
        s
    }

    /// Stops idle warm processes, dead ones, and idle sessions.
    fn reap(self: &Arc<Self>) {
        let idle = Duration::from_secs(self.config.claude.pool_idle_secs);
        let stale: Vec<CliProcess> = {
            let mut pool = self.pool.lock().unwrap_or_else(|e| e.into_inner());
            let (keep, stale): (Vec<Warm>, Vec<Warm>) = std::mem::take(&mut pool.warm)
                .into_iter()
                .partition_map_like(|w| w.since.elapsed() < idle && w.process.is_alive());
            pool.warm = keep;
            stale.into_iter().map(|w| w.process).collect()
        };
        for p in stale {
            self.tasks.spawn(p.shutdown());
        }
        let session_idle = Duration::from_secs(self.config.claude.session_idle_secs);
        let mut sessions = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
        let expired: Vec<String> = sessions
            .iter()
            .filter(|(_, s)| {
                s.try_lock()
                    .is_ok_and(|s| s.last_used.elapsed() >= session_idle)
            })
            .map(|(k, _)| k.clone())
            .collect();
        for k in expired {
            if let Some(s) = sessions.remove(&k) {
                close_session(&self.tasks, s);
            }
        }
    }

    /// The models the CLI offers (from its `initialize` answer), if one has started.
    pub fn cli_models(&self) -> Option<Value> {
        self.init
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .map(|i| i["models"].clone())
            .filter(Value::is_array)
    }

    /// The CLI's account as its `initialize` answer gave it.
    pub fn cli_account(&self) -> Value {
        self.init
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .map(|i| i["account"].clone())
            .unwrap_or(Value::Null)
    }

    /// Pool and session counts, for `/sdk/status`.
    pub fn pool_status(&self) -> Value {
        let pool = self.pool.lock().unwrap_or_else(|e| e.into_inner());
        let sessions = self
            .sessions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .len();
        json!({
            "size": self.config.claude.pool_size,
            "warm": pool.warm.len(),
            "starting": pool.spawning,
            "running": self.config.claude.max_concurrent - self.slots.available_permits(),
            "max_concurrent": self.config.claude.max_concurrent,
            "queued": self.queued.load(Ordering::Relaxed),
            "sessions": sessions,
            "waiting_for_tool_results": self.waiting.count(),
        })
    }

    /// PIDs of every process the pool and sessions hold (for tests and status).
    pub fn pids(&self) -> Vec<u32> {
        let pool = self.pool.lock().unwrap_or_else(|e| e.into_inner());
        pool.warm.iter().filter_map(|w| w.process.pid()).collect()
    }

    /// Stops every warm process and session process; new leases are refused after this.
    pub async fn shutdown(&self) {
        self.stopping.store(true, Ordering::Relaxed);
        // Waiting turns first: they hold session locks the loop below takes.
        for parked in self.waiting.drain() {
            parked.lease.cancel();
        }
        let warm: Vec<CliProcess> = {
            let mut pool = self.pool.lock().unwrap_or_else(|e| e.into_inner());
            pool.warm.drain(..).map(|w| w.process).collect()
        };
        let sessions: Vec<_> = self
            .sessions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .drain()
            .map(|(_, s)| s)
            .collect();
        let mut all = Vec::new();
        for p in warm {
            all.push(self.tasks.spawn(p.shutdown()));
        }
        for s in sessions {
            let mut s = s.lock().await;
            if let Some(p) = s.process.take() {
                all.push(self.tasks.spawn(p.shutdown()));
            }
        }
        for task in all {
            let _ = task.await;
        }
        // Then whatever else is still running: warm-ups finishing (they stop what they
        // started), interrupted turns winding down, the reaper.
        self.stop.cancel();
        self.tasks.close();
        self.tasks.wait().await;
    }
}

type RefillLater = Option<(Arc<ClaudeCode>, Profile, Option<String>)>;

/// Stops a session's process once nobody uses it.
fn close_session(tasks: &TaskTracker, s: Arc<tokio::sync::Mutex<Session>>) {
    tasks.spawn(async move {
        let mut s = s.lock().await;
        if let Some(p) = s.process.take() {
            p.shutdown().await;
        }
    });
}

/// `Iterator::partition` with a predicate that needs `&mut`.
trait PartitionMut: Iterator + Sized {
    fn partition_map_like<F>(self, mut keep: F) -> (Vec<Self::Item>, Vec<Self::Item>)
    where
        F: FnMut(&mut Self::Item) -> bool,
    {
        let (mut a, mut b) = (Vec::new(), Vec::new());
        for mut item in self {
            if keep(&mut item) {
                a.push(item);
            } else {
                b.push(item);
            }
        }
        (a, b)
    }
}

impl<I: Iterator> PartitionMut for I {}

impl Lease {
    /// The turn ended with its `result`: a session keeps the process and its new history
    /// (`None`: unknown, start over next time); a stateless process is stopped.
    pub fn finish(self, history: Option<Vec<u64>>) {
        let Lease {
            process,
            session,
            permit,
            refill,
            tasks,
            ..
        } = self;
        if let Some((cc, profile, model)) = refill {
            cc.refill(&profile, model.as_deref());
        }
        match (session, history) {
            (Some(mut s), Some(keys)) => {
                s.keys = keys;
                s.last_used = Instant::now();
                s.process = Some(process);
            }
            (session, _) => {
                if let Some(mut s) = session {
                    s.keys.clear();
                }
                tasks.spawn(process.shutdown());
            }
        }
        drop(permit);
    }

    /// The client went away mid-turn: interrupt the turn, let the CLI finish it, stop the
    /// process. The slot (and the session) stay taken until it is done.
    pub fn cancel(self) {
        let Lease {
            mut process,
            session,
            permit,
            refill,
            tasks,
            ..
        } = self;
        if tokio::runtime::Handle::try_current().is_err() {
            return; // dropping `process` kills it
        }
        if let Some((cc, profile, model)) = refill {
            cc.refill(&profile, model.as_deref());
        }
        tasks.spawn(async move {
            process.cancel_turn(Duration::from_secs(5)).await;
            if let Some(mut s) = session {
                s.keys.clear();
            }
            process.shutdown().await;
            drop(permit);
        });
    }
}
