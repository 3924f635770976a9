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
    /// When the window that limits now resets (`…-reset`), Unix seconds.
    pub reset: Option<i64>,
    pub five_hour_utilization: Option<f64>,
    /// Unix seconds.
    pub five_hour_reset: Option<i64>,
    pub seven_day_utilization: Option<f64>,
    pub seven_day_reset: Option<i64>,
    /// The window the request counted against: `five_hour`, `seven_day`, … (`overage` when it
    /// was drawn from extra usage).
    pub representative_claim: Option<String>,
    /// Whether extra usage can be drawn on: `allowed`, `allowed_warning`, `rejected` …
    pub overage_status: Option<String>,
    /// Whether this request was drawn from extra usage (`…-overage-in-use`; the CLI's
    /// `isUsingOverage`).
    pub overage_in_use: Option<bool>,
    /// Why extra usage is off, e.g. `org_level_disabled`.
    pub overage_disabled_reason: Option<String>,
    pub overage_utilization: Option<f64>,
    pub overage_reset: Option<i64>,
    /// Every `anthropic-ratelimit-unified-*` header as upstream sent it (name without the
    /// prefix), or the CLI's whole `rate_limit_info`: nothing upstream says is lost, including
    /// values not known today (`slow-*`, `grace-*`, per-model windows …).
    pub raw: serde_json::Map<String, serde_json::Value>,
    /// Unix milliseconds of the response it was read from.
    pub observed_at: i64,
}

/// `true`/`false` as upstream writes flags; anything else is not a reading.
fn flag(v: &str) -> Option<bool> {
    match v.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" => Some(true),
        "false" | "0" | "no" => Some(false),
        _ => None,
    }
}

impl Quota {
    /// The quota in `headers`, if they carry any.
    pub fn from_headers(headers: &HeaderMap, now_ms: i64) -> Option<Self> {
        const P: &str = "anthropic-ratelimit-unified-";
        // Looked up by static name first: a response without the headers costs three lookups.
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
        let mut raw = serde_json::Map::new();
        for (n, v) in headers {
            if let (Some(key), Ok(v)) = (n.as_str().strip_prefix(P), v.to_str()) {
                raw.insert(key.to_string(), v.into());
            }
        }
        let get = |key: &str| raw.get(key).and_then(|v| v.as_str()).map(str::to_string);
        let num = |key: &str| get(key).and_then(|v| v.trim().parse::<f64>().ok());
        let int = |key: &str| get(key).and_then(|v| v.trim().parse::<i64>().ok());
        let q = Quota {
            status: get("status"),
            reset: int("reset"),
            five_hour_utilization: num("5h-utilization"),
            five_hour_reset: int("5h-reset"),
            seven_day_utilization: num("7d-utilization"),
            seven_day_reset: int("7d-reset"),
            representative_claim: get("representative-claim"),
            overage_status: get("overage-status"),
            overage_in_use: get("overage-in-use").as_deref().and_then(flag),
            overage_disabled_reason: get("overage-disabled-reason"),
            overage_utilization: num("overage-utilization"),
            overage_reset: int("overage-reset"),
            raw,
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
            reset: info["resetsAt"].as_i64(),
            five_hour_utilization: window("five_hour")["utilization"].as_f64(),
            five_hour_reset: window("five_hour")["resetsAt"].as_i64(),
            seven_day_utilization: window("seven_day")["utilization"].as_f64(),
            seven_day_reset: window("seven_day")["resetsAt"].as_i64(),
            representative_claim: text(&info["rateLimitType"]),
            overage_status: text(&info["overageStatus"]),
            overage_in_use: info["isUsingOverage"].as_bool(),
            overage_disabled_reason: text(&info["overageDisabledReason"]),
            overage_utilization: None,
            overage_reset: info["overageResetsAt"].as_i64(),
            raw: info.as_object().cloned().unwrap_or_default(),
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
