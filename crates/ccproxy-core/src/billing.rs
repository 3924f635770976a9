//! Who pays for a request — the subscription plan's limits or *extra usage* (billed per token on
//! top of the plan) — as upstream's quota reading says, and the guard that keeps money from
//! being spent without the user's consent.
//!
//! **The rule**, applied to every model request:
//!
//! 1. an upstream error whose text says the request needs or draws extra usage ("Third-party
//!    apps now draw from your extra usage…", "Extra usage is required for long context
//!    requests", "You're out of extra usage") → **extra usage** ([`Bucket::of_error`]; the
//!    request was refused, but that is what upstream classified it as);
//! 2. else the response's quota reading (the `anthropic-ratelimit-unified-*` headers, or the
//!    CLI's `rate_limit_event`), by [`Bucket::of`]: `overage-in-use: true` (the CLI's
//!    `isUsingOverage: true`) or a representative claim that names overage → **extra usage**;
//!    a status of `allowed`/`allowed_warning` whose representative claim is a plan window
//!    (`five_hour`, `seven_day`, `seven_day_<model>` …) → **plan**;
//! 3. anything else → **unknown**. A value never seen before is never taken for "plan".
//!
//! **The guard** ([`Guard`]), under `billing.extra_usage = "block"` (the default), refuses model
//! requests before anything is sent upstream while the latest reading says they would be drawn
//! from extra usage: a response came back billed to it, or the plan's window is used up
//! (`status: rejected` or a utilization of 100 %) while extra usage is available
//! (`overage-status: allowed`). The block lifts at the window's reset, when a fresh reading says
//! the plan applies, or while the user's one-click override ("allow extra usage until the
//! reset") lasts. `warn` sends such requests and alerts; `allow` sends them.

use crate::config::ExtraUsagePolicy;
use crate::quota::Quota;
use serde::Serialize;
use std::sync::Mutex;

/// The response header that tells the client who paid: `plan`, `extra_usage` or `unknown`.
pub const HEADER: &str = "x-ccproxy-billing";

/// Who paid for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Bucket {
    /// Counted against the plan's 5-hour / weekly limits.
    Plan,
    /// Drawn from extra usage (billed per token).
    ExtraUsage,
    /// The reading does not say (no headers, or values not known today).
    Unknown,
}

impl Bucket {
    /// The name in the request log, the access line, `/metrics` and `x-ccproxy-billing`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Plan => "plan",
            Self::ExtraUsage => "extra_usage",
            Self::Unknown => "unknown",
        }
    }

    /// The bucket named `s`, as stored.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "plan" => Some(Self::Plan),
            "extra_usage" => Some(Self::ExtraUsage),
            "unknown" => Some(Self::Unknown),
            _ => None,
        }
    }

    /// The bucket a quota reading says a request went to (rules 2 and 3 of the module docs).
    pub fn of(q: &Quota) -> Self {
        let claim = q.representative_claim.as_deref().unwrap_or_default();
        if q.overage_in_use == Some(true) || claim.contains("overage") {
            return Self::ExtraUsage;
        }
        let allowed = matches!(q.status.as_deref(), Some("allowed" | "allowed_warning"));
        if allowed && is_plan_window(claim) {
            return Self::Plan;
        }
        Self::Unknown
    }

    /// The bucket an upstream error message says the request belongs to (rule 1), if it says.
    pub fn of_error(message: &str) -> Option<Self> {
        let m = message.to_ascii_lowercase();
        m.contains("extra usage").then_some(Self::ExtraUsage)
    }
}

/// A plan's own window: `five_hour`, `seven_day`, and per-model weekly windows
/// (`seven_day_opus`, `seven_day_sonnet` …).
fn is_plan_window(claim: &str) -> bool {
    claim == "five_hour" || claim == "seven_day" || claim.starts_with("seven_day_")
}

/// The window a reading's claim names, for people: "5-hour", "weekly", "weekly (opus)".
fn window_name(claim: Option<&str>) -> String {
    match claim {
        Some("five_hour") => "5-hour".into(),
        Some("seven_day") => "weekly".into(),
        Some(c) if c.starts_with("seven_day_") => format!("weekly ({})", &c[10..]),
        Some(c) if !c.is_empty() => c.replace('_', " "),
        _ => "plan".into(),
    }
}

/// Why the guard refuses requests now.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Block {
    /// The plan window that is used up, for people ("5-hour", "weekly").
    pub window: String,
    /// When that window resets (Unix seconds), if upstream said.
    pub resets_at: Option<i64>,
    /// What the reading showed.
    pub reason: String,
    /// Unix milliseconds of the reading that started the block.
    pub since: i64,
}

/// The guard's state, as `/api/status` and `/api/quota` show it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GuardState {
    /// `block`, `warn` or `allow` (`billing.extra_usage`).
    pub policy: ExtraUsagePolicy,
    /// Requests are being refused now.
    pub blocking: bool,
    /// The reading that would block (under `block`) or that is warned about (under `warn`).
    pub block: Option<Block>,
    /// The user allowed extra usage until this time (Unix seconds).
    pub allowed_until: Option<i64>,
    /// The bucket of the last model request that had a reading.
    pub last_bucket: Option<Bucket>,
}

/// A request refused by the guard: the 429's message and its `retry-after`.
#[derive(Debug, Clone, PartialEq)]
pub struct Refused {
    pub message: String,
    pub retry_after_secs: Option<u64>,
}

#[derive(Default)]
struct Inner {
    block: Option<Block>,
    allowed_until: Option<i64>,
    last_bucket: Option<Bucket>,
}

/// The extra-usage guard: fed every reading, asked before every model request.
pub struct Guard {
    policy: ExtraUsagePolicy,
    inner: Mutex<Inner>,
}

/// How long a block with no known reset lasts before one request may look again: five hours,
/// the shortest plan window.
const UNKNOWN_RESET_SECS: i64 = 5 * 3600;

impl Guard {
    pub fn new(policy: ExtraUsagePolicy) -> Self {
        Self {
            policy,
            inner: Mutex::new(Inner::default()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Learns a request's reading (and its bucket). Returns the block it starts, if it starts
    /// one (for the alert).
    pub fn note(&self, q: &Quota, bucket: Bucket) -> Option<Block> {
        let mut inner = self.lock();
        inner.last_bucket = Some(bucket);
        let exhausted = q.status.as_deref() == Some("rejected")
            || q.five_hour_utilization.is_some_and(|u| u >= 1.0)
            || q.seven_day_utilization.is_some_and(|u| u >= 1.0);
        let overage_available = matches!(
            q.overage_status.as_deref(),
            Some("allowed" | "allowed_warning")
        );
        let reason = if bucket == Bucket::ExtraUsage {
            "a response was billed to extra usage"
        } else if exhausted && overage_available {
            "the plan's window is used up and further requests would be drawn from extra usage"
        } else {
            if bucket == Bucket::Plan {
                // A fresh reading says the plan applies again.
                inner.block = None;
            }
            return None;
        };
        let claim = q
            .representative_claim
            .as_deref()
            .filter(|c| is_plan_window(c))
            .or_else(|| {
                // Billed to overage: the plan window that ran out is the fuller one.
                let h5 = q.five_hour_utilization.unwrap_or(0.0);
                let d7 = q.seven_day_utilization.unwrap_or(0.0);
                Some(if d7 > h5 { "seven_day" } else { "five_hour" })
            });
        let resets_at = match claim {
            Some("five_hour") => q.five_hour_reset.or(q.reset),
            Some("seven_day") => q.seven_day_reset.or(q.reset),
            _ => q.reset,
        };
        let block = Block {
            window: window_name(claim),
            resets_at,
            reason: reason.into(),
            since: q.observed_at,
        };
        let new = inner.block.as_ref().map(|b| &b.window) != Some(&block.window);
        inner.block = Some(block.clone());
        new.then_some(block)
    }

    /// Learns a request's bucket from its error text when it had no reading.
    pub fn note_bucket(&self, bucket: Bucket) {
        self.lock().last_bucket = Some(bucket);
    }

    /// Whether a model request may be sent now (`now` in Unix seconds).
    pub fn check(&self, now: i64) -> Result<(), Refused> {
        if self.policy != ExtraUsagePolicy::Block {
            return Ok(());
        }
        let mut inner = self.lock();
        let Some(block) = inner.block.clone() else {
            return Ok(());
        };
        let until = block
            .resets_at
            .unwrap_or(block.since / 1000 + UNKNOWN_RESET_SECS);
        if now >= until {
            inner.block = None;
            return Ok(());
        }
        if inner.allowed_until.is_some_and(|t| now < t) {
            return Ok(());
        }
        let when = match block.resets_at {
            Some(at) => format!(
                "it resets at {} (in {})",
                crate::clock::utc_text(at),
                duration_text(at - now)
            ),
            None => "upstream did not say when it resets".into(),
        };
        Err(Refused {
            message: format!(
                "CCProxy refused this request so that it is not billed to extra usage: {} \
                 ({} window); {when}. To allow it, choose \"Allow extra usage until the reset\" \
                 in the tray or the web UI, or set billing.extra_usage = \"warn\" or \"allow\".",
                block.reason, block.window
            ),
            retry_after_secs: Some((until - now).max(1) as u64),
        })
    }

    /// The user's one-click override: extra usage allowed until the current block's reset (or,
    /// with no reset known, for five hours). `false` ends an override.
    pub fn allow_until_reset(&self, allow: bool, now: i64) -> Option<i64> {
        let mut inner = self.lock();
        inner.allowed_until = allow.then(|| {
            inner
                .block
                .as_ref()
                .and_then(|b| b.resets_at)
                .filter(|&t| t > now)
                .unwrap_or(now + UNKNOWN_RESET_SECS)
        });
        inner.allowed_until
    }

    /// The state for `/api/status` and `/api/quota` (`now` in Unix seconds).
    pub fn state(&self, now: i64) -> GuardState {
        let blocking = self.check(now).is_err();
        let inner = self.lock();
        GuardState {
            policy: self.policy,
            blocking,
            block: inner.block.clone(),
            allowed_until: inner.allowed_until.filter(|&t| t > now),
            last_bucket: inner.last_bucket,
        }
    }
}

/// "38 min", "2 h 5 min", "3 days".
pub fn duration_text(secs: i64) -> String {
    let secs = secs.max(0);
    if secs < 60 {
        return format!("{secs} s");
    }
    let min = secs / 60;
    if min < 60 {
        return format!("{min} min");
    }
    let (h, m) = (min / 60, min % 60);
    if h < 48 {
        return if m == 0 {
            format!("{h} h")
        } else {
            format!("{h} h {m} min")
        };
    }
    format!("{} days", h / 24)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reading(pairs: &[(&str, &str)]) -> Quota {
        let mut headers = axum::http::HeaderMap::new();
        for (k, v) in pairs {
            headers.insert(
                axum::http::HeaderName::from_bytes(
                    format!("anthropic-ratelimit-unified-{k}").as_bytes(),
                )
                .unwrap(),
                v.parse().unwrap(),
            );
        }
        Quota::from_headers(&headers, 1_000_000).unwrap()
    }

    #[test]
    fn the_rule() {
        let plan = reading(&[("status", "allowed"), ("representative-claim", "five_hour")]);
        assert_eq!(Bucket::of(&plan), Bucket::Plan);
        let weekly_model = reading(&[
            ("status", "allowed_warning"),
            ("representative-claim", "seven_day_opus"),
        ]);
        assert_eq!(Bucket::of(&weekly_model), Bucket::Plan);
        let billed = reading(&[
            ("status", "allowed"),
            ("representative-claim", "five_hour"),
            ("overage-in-use", "true"),
        ]);
        assert_eq!(Bucket::of(&billed), Bucket::ExtraUsage);
        let overage_claim = reading(&[("status", "allowed"), ("representative-claim", "overage")]);
        assert_eq!(Bucket::of(&overage_claim), Bucket::ExtraUsage);
        // Unknown values are never taken for the plan.
        for r in [
            reading(&[("status", "allowed")]),
            reading(&[("status", "allowed"), ("representative-claim", "team_pool")]),
            reading(&[
                ("status", "something_new"),
                ("representative-claim", "five_hour"),
            ]),
            reading(&[
                ("status", "rejected"),
                ("representative-claim", "five_hour"),
            ]),
        ] {
            assert_eq!(Bucket::of(&r), Bucket::Unknown, "{r:?}");
        }
        assert_eq!(
            Bucket::of_error(
                "Third-party apps now draw from your extra usage, not your plan limits"
            ),
            Some(Bucket::ExtraUsage)
        );
        assert_eq!(
            Bucket::of_error("You're out of extra usage"),
            Some(Bucket::ExtraUsage)
        );
        assert_eq!(Bucket::of_error("Overloaded"), None);
        // Unknown headers are kept verbatim.
        let r = reading(&[("status", "allowed"), ("slow-status", "engaged")]);
        assert_eq!(r.raw["slow-status"], "engaged");
    }

    #[test]
    fn the_guard_blocks_until_the_reset_or_the_override() {
        let g = Guard::new(ExtraUsagePolicy::Block);
        let now = 1_000;
        let plan = reading(&[("status", "allowed"), ("representative-claim", "five_hour")]);
        assert_eq!(g.note(&plan, Bucket::of(&plan)), None);
        assert!(g.check(now).is_ok());
        let exhausted = reading(&[
            ("status", "rejected"),
            ("representative-claim", "five_hour"),
            ("5h-utilization", "1.0"),
            ("5h-reset", "3280"),
            ("overage-status", "allowed"),
        ]);
        let block = g.note(&exhausted, Bucket::of(&exhausted)).unwrap();
        assert_eq!(
            (block.window.as_str(), block.resets_at),
            ("5-hour", Some(3280))
        );
        assert_eq!(g.note(&exhausted, Bucket::Unknown), None, "alerted once");
        let refused = g.check(now).unwrap_err();
        assert_eq!(refused.retry_after_secs, Some(2280));
        assert!(refused.message.contains("in 38 min"), "{}", refused.message);
        assert!(refused.message.contains("5-hour"), "{}", refused.message);
        assert!(g.state(now).blocking);
        // The override, until the reset.
        assert_eq!(g.allow_until_reset(true, now), Some(3280));
        assert!(g.check(now).is_ok());
        assert_eq!(g.allow_until_reset(false, now), None);
        assert!(g.check(now).is_err());
        // The reset lifts it.
        assert!(g.check(3280).is_ok());
        assert!(!g.state(3280).blocking);

        // Exhausted with extra usage off: upstream refuses by itself, nothing to block.
        let off = reading(&[
            ("status", "rejected"),
            ("5h-utilization", "1.0"),
            ("overage-status", "rejected"),
        ]);
        assert_eq!(g.note(&off, Bucket::of(&off)), None);
        assert!(g.check(now).is_ok());

        // A billed response blocks; a fresh plan reading lifts it.
        let billed = reading(&[
            ("status", "allowed"),
            ("representative-claim", "seven_day"),
            ("overage-in-use", "true"),
            ("7d-reset", "99999"),
        ]);
        assert_eq!(
            g.note(&billed, Bucket::ExtraUsage).unwrap().window,
            "weekly"
        );
        assert!(g.check(now).is_err());
        g.note(&plan, Bucket::Plan);
        assert!(g.check(now).is_ok());
    }

    #[test]
    fn warn_and_allow_never_refuse() {
        for policy in [ExtraUsagePolicy::Warn, ExtraUsagePolicy::Allow] {
            let g = Guard::new(policy);
            let billed = reading(&[("status", "allowed"), ("overage-in-use", "true")]);
            assert!(g.note(&billed, Bucket::ExtraUsage).is_some());
            assert!(g.check(1_000).is_ok());
            assert!(!g.state(1_000).blocking);
        }
    }

    #[test]
    fn durations_for_people() {
        assert_eq!(duration_text(2280), "38 min");
        assert_eq!(duration_text(7500), "2 h 5 min");
        assert_eq!(duration_text(3 * 86400), "3 days");
    }
}
