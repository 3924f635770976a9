//! Alerts: what the user should hear about before it bites — a plan window's utilization
//! crossing a threshold (`billing.alert_thresholds`, 80 % and 95 %), extra usage starting to be
//! used, the guard refusing requests, the login failing, the `claude` CLI missing or too old.
//!
//! Each fires **once per crossing**: a threshold fires again only after the utilization fell
//! below it (a window reset); "extra usage in use" again only after a request was on the plan;
//! a login or CLI problem again only after it was fixed. The recent alerts are kept (a bounded
//! list with increasing ids) for `GET /api/alerts` — the web UI's banner — and for the desktop
//! app, which turns new ones into notifications. This module holds the logic and nothing of
//! the GUI, so it is tested on its own.

use crate::billing::{Block, Bucket};
use crate::quota::Quota;
use serde::Serialize;
use std::collections::VecDeque;
use std::sync::Mutex;

/// How many alerts are kept.
const KEPT: usize = 50;

/// How serious an alert is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Warning,
    Critical,
}

/// One alert.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Alert {
    /// Increasing from 1: `GET /api/alerts?since=ID` returns the newer ones.
    pub id: u64,
    /// Unix milliseconds.
    pub at: i64,
    /// `utilization`, `extra_usage`, `blocked`, `login`, `cli`.
    pub kind: &'static str,
    pub severity: Severity,
    pub title: String,
    pub message: String,
}

#[derive(Default)]
struct Inner {
    next_id: u64,
    recent: VecDeque<Alert>,
    /// Per window (`5-hour`, `weekly`): the highest threshold already alerted.
    crossed: [Option<f64>; 2],
    extra_usage: bool,
    login_problem: bool,
    cli_problem: Option<String>,
}

/// The alerts of one server.
pub struct Alerts {
    thresholds: Vec<f64>,
    inner: Mutex<Inner>,
}

impl Alerts {
    /// `thresholds` are fractions (0.8 = 80 %), in any order.
    pub fn new(mut thresholds: Vec<f64>) -> Self {
        thresholds.sort_by(|a, b| a.total_cmp(b));
        thresholds.dedup();
        Self {
            thresholds,
            inner: Mutex::new(Inner::default()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn fire(
        inner: &mut Inner,
        kind: &'static str,
        severity: Severity,
        title: String,
        message: String,
    ) {
        inner.next_id += 1;
        if inner.recent.len() == KEPT {
            inner.recent.pop_front();
        }
        tracing::warn!(alert = kind, "{title}: {message}");
        inner.recent.push_back(Alert {
            id: inner.next_id,
            at: crate::clock::unix_ms() as i64,
            kind,
            severity,
            title,
            message,
        });
    }

    /// Learns a quota reading and the bucket of the request it came with.
    pub fn on_reading(&self, q: &Quota, bucket: Bucket) {
        let mut inner = self.lock();
        for (i, (name, used, reset)) in [
            ("5-hour", q.five_hour_utilization, q.five_hour_reset),
            ("weekly", q.seven_day_utilization, q.seven_day_reset),
        ]
        .into_iter()
        .enumerate()
        {
            let Some(used) = used else { continue };
            let reached = self.thresholds.iter().rev().find(|&&t| used >= t).copied();
            let before = inner.crossed[i];
            inner.crossed[i] = reached;
            let Some(t) = reached else { continue };
            if before.is_some_and(|b| b >= t) {
                continue;
            }
            let top = self.thresholds.last().copied().unwrap_or(1.0);
            let severity = if t >= top {
                Severity::Critical
            } else {
                Severity::Warning
            };
            let resets = reset
                .map(|r| format!("; it resets at {}", crate::clock::utc_text(r)))
                .unwrap_or_default();
            Self::fire(
                &mut inner,
                "utilization",
                severity,
                format!("{name} limit at {:.0} %", used * 100.0),
                format!(
                    "Your plan's {name} window is {:.0} % used{resets}.",
                    used * 100.0
                ),
            );
        }
        match bucket {
            Bucket::ExtraUsage if !inner.extra_usage => {
                inner.extra_usage = true;
                Self::fire(
                    &mut inner,
                    "extra_usage",
                    Severity::Critical,
                    "Extra usage in use".into(),
                    "Upstream billed a request to extra usage (paid per token, on top of your \
                     plan)."
                        .into(),
                );
            }
            Bucket::Plan => inner.extra_usage = false,
            _ => {}
        }
    }

    /// The latest reading says requests would now be drawn from extra usage: under `block` the
    /// guard refuses them from now on; under `warn` they go on, and the user hears it.
    pub fn on_block(&self, block: &Block, refusing: bool) {
        let resets = block
            .resets_at
            .map(|r| format!(" until {}", crate::clock::utc_text(r)))
            .unwrap_or_default();
        let (title, what) = if refusing {
            (
                "Requests paused to avoid extra usage",
                format!(
                    "CCProxy refuses model requests{resets}. Allow extra usage in the tray or \
                     the web UI to go on."
                ),
            )
        } else {
            (
                "Requests are drawn from extra usage",
                "CCProxy sends them anyway (billing.extra_usage = \"warn\").".to_string(),
            )
        };
        Self::fire(
            &mut self.lock(),
            "blocked",
            Severity::Critical,
            title.into(),
            format!("{} ({} window): {what}", block.reason, block.window),
        );
    }

    /// A request found the login unusable (expired and not refreshable, or a refresh failed).
    pub fn on_login_problem(&self, message: &str) {
        let mut inner = self.lock();
        if std::mem::replace(&mut inner.login_problem, true) {
            return;
        }
        Self::fire(
            &mut inner,
            "login",
            Severity::Critical,
            "Claude login needs attention".into(),
            message.to_string(),
        );
    }

    /// A request went through with the login.
    pub fn on_login_ok(&self) {
        self.lock().login_problem = false;
    }

    /// The `claude` CLI is missing, unusable or too old for a model (`message` says which).
    pub fn on_cli_problem(&self, message: &str) {
        let mut inner = self.lock();
        if inner.cli_problem.as_deref() == Some(message) {
            return;
        }
        inner.cli_problem = Some(message.to_string());
        Self::fire(
            &mut inner,
            "cli",
            Severity::Warning,
            "Claude Code CLI needs attention".into(),
            message.to_string(),
        );
    }

    /// A Claude Code mode turn ran.
    pub fn on_cli_ok(&self) {
        self.lock().cli_problem = None;
    }

    /// The kept alerts newer than `since`.
    pub fn since(&self, since: u64) -> Vec<Alert> {
        self.lock()
            .recent
            .iter()
            .filter(|a| a.id > since)
            .cloned()
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn used(h5: f64, d7: f64) -> Quota {
        Quota {
            status: Some("allowed".into()),
            five_hour_utilization: Some(h5),
            seven_day_utilization: Some(d7),
            ..Quota::default()
        }
    }

    fn kinds(a: &Alerts, since: u64) -> Vec<(&'static str, String)> {
        a.since(since)
            .into_iter()
            .map(|a| (a.kind, a.title))
            .collect()
    }

    #[test]
    fn each_threshold_fires_once_per_crossing() {
        let a = Alerts::new(vec![0.95, 0.8]);
        a.on_reading(&used(0.5, 0.1), Bucket::Plan);
        assert!(a.since(0).is_empty());
        a.on_reading(&used(0.81, 0.1), Bucket::Plan);
        a.on_reading(&used(0.85, 0.1), Bucket::Plan);
        a.on_reading(&used(0.9, 0.1), Bucket::Plan);
        assert_eq!(
            kinds(&a, 0),
            [("utilization", "5-hour limit at 81 %".to_string())]
        );
        // Jumping past both fires the higher one only, critical.
        a.on_reading(&used(0.97, 0.96), Bucket::Plan);
        let new = a.since(1);
        assert_eq!(new.len(), 2, "{new:?}");
        assert!(new.iter().all(|x| x.severity == Severity::Critical));
        assert_eq!(new[1].title, "weekly limit at 96 %");
        a.on_reading(&used(0.99, 0.99), Bucket::Plan);
        assert_eq!(a.since(3).len(), 0, "no storm");
        // After the window resets, the next crossing fires again.
        a.on_reading(&used(0.02, 0.99), Bucket::Plan);
        a.on_reading(&used(0.8, 0.99), Bucket::Plan);
        assert_eq!(
            kinds(&a, 3),
            [("utilization", "5-hour limit at 80 %".into())]
        );
    }

    #[test]
    fn extra_usage_login_and_cli_fire_once_until_they_clear() {
        let a = Alerts::new(vec![0.8]);
        let q = Quota::default();
        a.on_reading(&q, Bucket::ExtraUsage);
        a.on_reading(&q, Bucket::ExtraUsage);
        a.on_reading(&q, Bucket::Unknown);
        assert_eq!(a.since(0).len(), 1);
        a.on_reading(&q, Bucket::Plan);
        a.on_reading(&q, Bucket::ExtraUsage);
        assert_eq!(a.since(0).len(), 2);

        a.on_login_problem("the login expired");
        a.on_login_problem("the login expired");
        assert_eq!(a.since(2).len(), 1);
        a.on_login_ok();
        a.on_login_problem("the refresh failed");
        assert_eq!(a.since(2).len(), 2);

        a.on_cli_problem("claude not found");
        a.on_cli_problem("claude not found");
        a.on_cli_problem("Claude Code 2.1.0 is too old for claude-opus-5; 2.2.0 is needed");
        assert_eq!(kinds(&a, 4).len(), 2);
        let block = Block {
            window: "5-hour".into(),
            resets_at: None,
            reason: "a response was billed to extra usage".into(),
            since: 0,
        };
        a.on_block(&block, true);
        assert_eq!(a.since(6)[0].kind, "blocked");
    }

    #[test]
    fn only_the_latest_are_kept() {
        let a = Alerts::new(vec![0.8]);
        for i in 0..(KEPT + 10) {
            a.on_cli_problem(&format!("problem {i}"));
        }
        let kept = a.since(0);
        assert_eq!(kept.len(), KEPT);
        assert_eq!(kept[0].id, 11);
    }
}
