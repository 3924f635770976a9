//! The Claude Code backend: one turn of a leased `claude` CLI process for an Anthropic request,
//! yielding the events of one Anthropic message ([`ccproxy_protocol::claude_cli::Turn`]) as the
//! CLI prints them. The events go to the surface's renderer as they are: nothing is encoded to
//! bytes and decoded again.
//!
//! The answer waits for the turn's first events, so an error before any content (a 429
//! upstream, a missing login) gets its own status instead of a 200 with an error inside.
//!
//! With the client's own tools, a response can end with their calls: the turn is then parked
//! (`claude_code::waiting`) with its process, and the client's next request — the same
//! conversation plus the results of exactly those calls — goes on with it: the results answer
//! the CLI's pending calls and the turn's next events are that request's response. Anything
//! else (other ids, another history, other tools, a process that died) starts a fresh turn
//! with the whole conversation: never an answer from another context.

use crate::claude_code::process::CliError;
use crate::claude_code::waiting::Parked;
use crate::claude_code::{Lease, LeaseError, Profile};
use crate::error::ApiError;
use crate::quota::Quota;
use crate::record::DraftCell;
use crate::state::AppState;
use ccproxy_protocol::claude_cli::{self, CliRequest, Events, Turn, TurnError};
use ccproxy_protocol::error::ErrorKind;
use serde_json::Value;
use std::sync::Arc;

impl From<CliError> for ApiError {
    /// The CLI is this backend's upstream: its failures are a bad gateway.
    fn from(e: CliError) -> Self {
        ApiError::new(ErrorKind::BadGateway, e.to_string())
    }
}

impl From<LeaseError> for ApiError {
    fn from(e: LeaseError) -> Self {
        match e {
            LeaseError::Unavailable(m) => ApiError::new(ErrorKind::Unavailable, m),
            LeaseError::Busy(m) => ApiError::new(ErrorKind::RateLimit, m),
            LeaseError::Timeout(m) => ApiError::new(ErrorKind::Unavailable, m),
            LeaseError::Spawn(m) => ApiError::new(ErrorKind::BadGateway, m),
        }
    }
}

/// A session id from the path: 1–64 of `A-Z a-z 0-9 _ -`.
pub fn check_session(id: &str) -> Result<(), ApiError> {
    let ok = (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(ApiError::new(
            ErrorKind::InvalidRequest,
            "a session id is 1 to 64 letters, digits, `_` or `-`",
        ))
    }
}

/// What the CLI is given for an Anthropic request; fields that are server settings are refused.
pub fn parse(req: &Value) -> Result<CliRequest, ApiError> {
    claude_cli::parse_request(req).map_err(|e| ApiError::new(ErrorKind::InvalidRequest, e.0))
}

/// How a turn began.
pub enum Began {
    /// It produced its first events; the rest come from the [`TurnEvents`].
    Started(Box<TurnEvents>, Events),
    /// It failed before any content.
    Failed(TurnError),
}

fn new_message_id() -> String {
    format!("msg_sdk_{:024x}", rand::random::<u128>() >> 32)
}

fn new_turn_id() -> String {
    format!("turn_{:024x}", rand::random::<u128>() >> 32)
}

/// Whether `messages` continue the parked turn: the messages its process holds, the
/// assistant message with exactly its calls, and (checked when it was found) their results.
fn continues(parked: &Parked, profile: &Profile, messages: &[Value], keys: &[u64]) -> bool {
    let n = parked.prefix.len();
    let mut calls: Vec<&str> = parked.turn.calls().iter().map(String::as_str).collect();
    let Some(assistant) = messages.get(n) else {
        return false;
    };
    let mut sent = claude_cli::tools::tool_use_ids(assistant);
    calls.sort_unstable();
    sent.sort_unstable();
    parked.profile == profile.key()
        && messages.len() == n + 2
        && keys.starts_with(&parked.prefix)
        && assistant["role"] == "assistant"
        && calls == sent
}

/// The waiting turn this request continues, if any (a waiting turn it does not continue is
/// stopped, and so is one waiting in the same session).
async fn waiting_turn(
    state: &Arc<AppState>,
    parsed: &CliRequest,
    profile: &Profile,
    keys: &[u64],
    session: Option<&str>,
) -> Result<Option<(Lease, Turn, String)>, ApiError> {
    let cc = &state.claude_code;
    let found = claude_cli::tools::tool_results(&parsed.messages).and_then(|results| {
        let ids: Vec<&str> = results.iter().map(|(id, _)| id.as_str()).collect();
        cc.resume(&ids).map(|parked| (parked, results))
    });
    if let Some(id) = session {
        cc.stop_waiting_in(id);
    }
    let Some((parked, results)) = found else {
        return Ok(None);
    };
    let mut parked = parked;
    if !continues(&parked, profile, &parsed.messages, keys) || !parked.lease.process.is_alive() {
        parked.lease.cancel();
        return Ok(None);
    }
    let Parked {
        lease,
        mut turn,
        turn_id,
        ..
    } = parked;
    if let Err(e) = lease.process.answer_calls(results).await {
        lease.finish(None);
        return Err(e.into());
    }
    turn.resume(&new_message_id());
    Ok(Some((lease, turn, turn_id)))
}

/// Leases a process (or takes the waiting turn the request continues), sends the request and
/// waits for the turn's first events.
pub async fn begin(
    state: &Arc<AppState>,
    draft: Option<&DraftCell>,
    parsed: &CliRequest,
    session: Option<&str>,
) -> Result<Began, ApiError> {
    let keys = claude_cli::history_keys(&parsed.messages);
    let profile = Profile::new(&parsed.system, parsed.tools.clone());
    let (mut lease, mut turn, turn_id) =
        match waiting_turn(state, parsed, &profile, &keys, session).await? {
            Some(continued) => continued,
            None => {
                let (lease, turn) = start(state, parsed, &profile, &keys, session).await?;
                (lease, turn, new_turn_id())
            }
        };
    if let Some(d) = draft {
        d.with(|d| d.turn_id = Some(turn_id.clone()));
    }
    let first = next_events(&mut lease, &mut turn).await;
    if let (false, Some(error)) = (turn.has_started(), turn.error().cloned()) {
        lease.finish(None);
        if let Some(d) = draft {
            d.with(|d| {
                d.upstream_status = Some(error.status);
                d.error_type = Some(error.kind.clone());
            });
        }
        return Ok(Began::Failed(error));
    }
    if let Some(d) = draft {
        d.with(|d| d.upstream_status = Some(200));
    }
    let events = TurnEvents {
        state: state.clone(),
        lease: Some(lease),
        turn,
        keys,
        draft: draft.cloned(),
        profile: profile.key().to_string(),
        turn_id,
        session: session.map(String::from),
        parked: false,
    };
    Ok(Began::Started(Box::new(events), first))
}

/// A fresh turn: a leased process, given the conversation.
async fn start(
    state: &Arc<AppState>,
    parsed: &CliRequest,
    profile: &Profile,
    keys: &[u64],
    session: Option<&str>,
) -> Result<(Lease, Turn), ApiError> {
    let mut lease = match state
        .claude_code
        .lease(profile, parsed.model.as_deref(), keys, session)
        .await
    {
        Ok(lease) => {
            state.alerts.on_cli_ok();
            lease
        }
        Err(e) => {
            if let LeaseError::Unavailable(m) = &e {
                state.alerts.on_cli_problem(m);
            }
            return Err(e.into());
        }
    };
    let prepared = async {
        if let Some(model) = &parsed.model {
            lease.process.set_model(model).await.map_err(|e| {
                ApiError::new(
                    ErrorKind::BadGateway,
                    format!("the claude CLI did not switch to model `{model}`: {e}"),
                )
            })?;
        }
        let content = claude_cli::user_content(&parsed.messages, lease.skip);
        lease
            .process
            .send_user(&content)
            .await
            .map_err(ApiError::from)
    }
    .await;
    if let Err(e) = prepared {
        lease.finish(None);
        return Err(e);
    }
    let model = parsed.model.clone().unwrap_or_else(|| "claude-code".into());
    let names = parsed
        .tools
        .as_ref()
        .map(|t| t.names.clone())
        .unwrap_or_default();
    let turn = Turn::new(&model, &new_message_id()).with_client_tools(names);
    Ok((lease, turn))
}

/// Reads lines until the turn produces events or ends.
async fn next_events(lease: &mut Lease, turn: &mut Turn) -> Events {
    loop {
        match lease.process.next_line().await {
            Ok(line) => {
                let events = turn.push(&line);
                if !events.is_empty() || turn.is_done() || turn.is_paused() {
                    return events;
                }
            }
            Err(why) => return turn.abandon(&why.to_string()),
        }
    }
}

/// A turn in progress, owning its lease: dropped before the end (the client left), it
/// interrupts the turn.
pub struct TurnEvents {
    state: Arc<AppState>,
    lease: Option<Lease>,
    turn: Turn,
    keys: Vec<u64>,
    draft: Option<DraftCell>,
    profile: String,
    turn_id: String,
    session: Option<String>,
    /// The response ended with client tool calls and the turn was parked.
    parked: bool,
}

impl TurnEvents {
    /// The next step's events; empty once the response is over (and then the turn has been
    /// ended, or parked to wait for the client's tool results).
    pub async fn next(&mut self) -> Events {
        let over = self.is_done();
        let events = match self.lease.as_mut() {
            Some(lease) if !over => next_events(lease, &mut self.turn).await,
            _ => Vec::new(),
        };
        if self.turn.is_done() {
            self.end();
        } else if self.turn.is_paused() {
            self.park();
        }
        events
    }

    /// Whether the response is over (the turn ended, or waits for tool results).
    pub fn is_done(&self) -> bool {
        self.parked || self.turn.is_done() || self.turn.is_paused()
    }

    /// The response ended with calls of the client's tools: the turn waits for their results.
    fn park(&mut self) {
        let Some(lease) = self.lease.take() else {
            return;
        };
        self.parked = true;
        self.note_quota();
        let turn = std::mem::replace(&mut self.turn, Turn::new("", ""));
        // The placeholder answers `is_done`/`error` as a response that ended well.
        self.state.claude_code.park(Parked {
            lease,
            turn,
            prefix: std::mem::take(&mut self.keys),
            profile: std::mem::take(&mut self.profile),
            turn_id: std::mem::take(&mut self.turn_id),
            session: self.session.take(),
        });
    }

    /// The subscription's quota as the CLI saw it (its `rate_limit_event`): the same reading
    /// `/api/quota` takes from upstream's headers in API mode.
    fn note_quota(&self) {
        let quota = self
            .turn
            .rate_limit()
            .and_then(|info| Quota::from_cli(info, crate::clock::unix_ms() as i64));
        let bucket = quota.as_ref().map(|q| self.state.note_quota(q));
        if let (Some(d), Some(q)) = (&self.draft, quota) {
            d.with(|d| {
                d.quota = Some(q);
                d.bucket = bucket;
            });
        }
    }

    /// The error the turn ended with.
    pub fn error(&self) -> Option<&TurnError> {
        self.turn.error()
    }

    /// Ends the turn: the process goes back (with its history, when the turn succeeded), and the
    /// record learns the CLI's cost, error and quota reading. Does nothing the second time.
    pub fn end(&mut self) {
        let Some(lease) = self.lease.take() else {
            return;
        };
        let history = self.turn.error().is_none().then(|| {
            let mut keys = std::mem::take(&mut self.keys);
            keys.push(claude_cli::assistant_key(self.turn.text()));
            keys
        });
        lease.finish(history);
        self.note_quota();
        if let Some(d) = &self.draft {
            d.with(|d| {
                d.cli_cost_usd = self.turn.cost_usd();
                if let Some(e) = self.turn.error() {
                    d.error_type = Some(e.kind.clone());
                    if let Some(b) = crate::billing::Bucket::of_error(&e.message) {
                        d.bucket = Some(b);
                    }
                }
            });
        }
    }
}

impl Drop for TurnEvents {
    fn drop(&mut self) {
        if let Some(lease) = self.lease.take() {
            lease.cancel();
        }
    }
}
