//! The Claude Code backend: one turn of a leased `claude` CLI process for an Anthropic request,
//! yielding the events of one Anthropic message ([`ccproxy_protocol::claude_cli::Turn`]) as the
//! CLI prints them. The events go to the surface's renderer as they are: nothing is encoded to
//! bytes and decoded again.
//!
//! The answer waits for the turn's first events, so an error before any content (a 429
//! upstream, a missing login) gets its own status instead of a 200 with an error inside.

use crate::claude_code::process::CliError;
use crate::claude_code::{Lease, LeaseError};
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

/// Leases a process, sends the request and waits for the turn's first events.
pub async fn begin(
    state: &Arc<AppState>,
    draft: Option<&DraftCell>,
    parsed: &CliRequest,
    session: Option<&str>,
) -> Result<Began, ApiError> {
    let keys = claude_cli::history_keys(&parsed.messages);
    let mut lease = state
        .claude_code
        .lease(&parsed.system, parsed.model.as_deref(), &keys, session)
        .await?;
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
    let mut turn = Turn::new(&model, &new_message_id());
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
    };
    Ok(Began::Started(Box::new(events), first))
}

/// Reads lines until the turn produces events or ends.
async fn next_events(lease: &mut Lease, turn: &mut Turn) -> Events {
    loop {
        match lease.process.next_line().await {
            Ok(line) => {
                let events = turn.push(&line);
                if !events.is_empty() || turn.is_done() {
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
}

impl TurnEvents {
    /// The next step's events; empty once the turn is over (and then it has been ended).
    pub async fn next(&mut self) -> Events {
        let events = match self.lease.as_mut() {
            Some(lease) if !self.turn.is_done() => next_events(lease, &mut self.turn).await,
            _ => Vec::new(),
        };
        if self.turn.is_done() {
            self.end();
        }
        events
    }

    /// Whether the turn is over.
    pub fn is_done(&self) -> bool {
        self.turn.is_done()
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
        // The subscription's quota as the CLI saw it (its `rate_limit_event`): the same
        // reading `/api/quota` takes from upstream's headers in API mode.
        let quota = self
            .turn
            .rate_limit()
            .and_then(|info| Quota::from_cli(info, crate::clock::unix_ms() as i64));
        if let Some(q) = &quota {
            self.state.quota.update(q.clone());
        }
        if let Some(d) = &self.draft {
            d.with(|d| {
                d.cli_cost_usd = self.turn.cost_usd();
                if let Some(e) = self.turn.error() {
                    d.error_type = Some(e.kind.clone());
                }
                if quota.is_some() {
                    d.quota = quota;
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
