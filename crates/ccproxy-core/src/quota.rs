//! The subscription's live quota, read from the `anthropic-ratelimit-unified-*` headers that
//! upstream sends with every response — no extra calls.

use axum::http::{HeaderMap, HeaderName};
use serde::Serialize;
use std::sync::Mutex;

/// One reading of the quota headers.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Quota {
    /// `allowed`, `allowed_warning`, `rejected` …
    pub status: Option<String>,
    pub five_hour_utilization: Option<f64>,
    /// Unix seconds.
    pub five_hour_reset: Option<i64>,
    pub seven_day_utilization: Option<f64>,
    pub seven_day_reset: Option<i64>,
    pub representative_claim: Option<String>,
    pub overage_status: Option<String>,
    pub overage_utilization: Option<f64>,
    pub overage_reset: Option<i64>,
    /// Unix milliseconds of the response it was read from.
    pub observed_at: i64,
}

impl Quota {
    /// The quota in `headers`, if they carry any.
    pub fn from_headers(headers: &HeaderMap, now_ms: i64) -> Option<Self> {
        const P: &str = "anthropic-ratelimit-unified-";
        // Looked up by static name: no allocation, no name parsing, per response.
        let name = |n: &'static str| HeaderName::from_static(n);
        let (status, h5) = (
            name("anthropic-ratelimit-unified-status"),
            name("anthropic-ratelimit-unified-5h-utilization"),
        );
        let d7 = name("anthropic-ratelimit-unified-7d-utilization");
        if !headers.contains_key(&status)
            && !headers.contains_key(&h5)
            && !headers.contains_key(&d7)
        {
            return None;
        }
        debug_assert!(status.as_str().starts_with(P));
        let get = |n: &HeaderName| {
            headers
                .get(n)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let num = |n: &HeaderName| get(n).and_then(|v| v.parse::<f64>().ok());
        let int = |n: &'static str| get(&name(n)).and_then(|v| v.parse::<i64>().ok());
        let q = Quota {
            status: get(&status),
            five_hour_utilization: num(&h5),
            five_hour_reset: int("anthropic-ratelimit-unified-5h-reset"),
            seven_day_utilization: num(&d7),
            seven_day_reset: int("anthropic-ratelimit-unified-7d-reset"),
            representative_claim: get(&name("anthropic-ratelimit-unified-representative-claim")),
            overage_status: get(&name("anthropic-ratelimit-unified-overage-status")),
            overage_utilization: num(&name("anthropic-ratelimit-unified-overage-utilization")),
            overage_reset: int("anthropic-ratelimit-unified-overage-reset"),
            observed_at: now_ms,
        };
        q.if_any()
    }

    /// The quota from the `claude` CLI's `rate_limit_event` (Claude Code mode), whose
    /// `unifiedWindows` carry the same readings as upstream's headers; `None` if it has none.
    pub fn from_cli(info: &serde_json::Value, now_ms: i64) -> Option<Self> {
        let window = |name: &str| &info["unifiedWindows"][name];
        let text = |v: &serde_json::Value| v.as_str().map(str::to_string);
        let q = Quota {
            status: text(&info["status"]),
            five_hour_utilization: window("five_hour")["utilization"].as_f64(),
            five_hour_reset: window("five_hour")["resetsAt"].as_i64(),
            seven_day_utilization: window("seven_day")["utilization"].as_f64(),
            seven_day_reset: window("seven_day")["resetsAt"].as_i64(),
            representative_claim: text(&info["rateLimitType"]),
            overage_status: text(&info["overageStatus"]),
            overage_utilization: None,
            overage_reset: None,
            observed_at: now_ms,
        };
        q.if_any()
    }

    /// The reading, if it says anything at all.
    fn if_any(self) -> Option<Self> {
        let any = self.status.is_some()
            || self.five_hour_utilization.is_some()
            || self.seven_day_utilization.is_some();
        any.then_some(self)
    }
}

/// The latest quota seen.
#[derive(Default)]
pub struct LatestQuota(Mutex<Option<Quota>>);

impl LatestQuota {
    pub fn update(&self, q: Quota) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = Some(q);
    }

    pub fn get(&self) -> Option<Quota> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn a_reading_that_says_nothing_is_none() {
        assert!(Quota::from_headers(&HeaderMap::new(), 1).is_none());
        let mut headers = HeaderMap::new();
        headers.insert(
            "anthropic-ratelimit-unified-5h-reset",
            HeaderValue::from_static("9"),
        );
        assert!(Quota::from_headers(&headers, 1).is_none(), "a reset alone");
        assert!(Quota::from_cli(&serde_json::json!({}), 1).is_none());
        let windows = serde_json::json!({"unifiedWindows": {"five_hour": {"resetsAt": 9}}});
        assert!(Quota::from_cli(&windows, 1).is_none(), "a reset alone");

        let cli = serde_json::json!({"unifiedWindows": {"seven_day": {"utilization": 0.5}}});
        let q = Quota::from_cli(&cli, 7).unwrap();
        assert_eq!((q.seven_day_utilization, q.observed_at), (Some(0.5), 7));
        headers.insert(
            "anthropic-ratelimit-unified-status",
            HeaderValue::from_static("allowed"),
        );
        let q = Quota::from_headers(&headers, 3).unwrap();
        assert_eq!(
            (q.status.as_deref(), q.five_hour_reset),
            (Some("allowed"), Some(9))
        );
    }
}
