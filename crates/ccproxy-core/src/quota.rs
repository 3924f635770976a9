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

/// A quota window the pace of use is projected for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Window {
    FiveHour,
    SevenDay,
}

impl Window {
    pub const ALL: [Window; 2] = [Window::FiveHour, Window::SevenDay];

    /// Its length in seconds.
    pub fn secs(self) -> i64 {
        match self {
            Window::FiveHour => 5 * 3600,
            Window::SevenDay => 7 * 86_400,
        }
    }

    /// The request log's column holding its utilization per request.
    pub fn column(self) -> &'static str {
        match self {
            Window::FiveHour => "quota_5h",
            Window::SevenDay => "quota_7d",
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Window::FiveHour => "five_hour",
            Window::SevenDay => "seven_day",
        }
    }

    /// Its utilization and reset (Unix seconds) in a reading.
    pub fn of(self, q: &Quota) -> (Option<f64>, Option<i64>) {
        match self {
            Window::FiveHour => (q.five_hour_utilization, q.five_hour_reset),
            Window::SevenDay => (q.seven_day_utilization, q.seven_day_reset),
        }
    }

    /// When the window now running began: its reset minus its length, or (no reset known)
    /// its length ago. Unix seconds.
    pub fn start(self, reset: Option<i64>, now: i64) -> i64 {
        reset.map_or(now, |r| r.min(now + self.secs())) - self.secs()
    }
}

/// Sums over one window's readings in the request log, for the least-squares line of
/// utilization (`y`) against time (`x`, seconds since the window began — small enough that the
/// sums stay exact in `f64`).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Readings {
    pub n: u64,
    pub sum_x: f64,
    pub sum_y: f64,
    pub sum_xx: f64,
    pub sum_xy: f64,
    /// The first and last reading's `x`.
    pub first_x: f64,
    pub last_x: f64,
}

/// Readings closer together than this say too little about a pace to project it.
pub const MIN_SPAN_SECS: f64 = 300.0;

/// Where the pace of use in a window so far leads: "at this pace the 5-hour limit is reached
/// at 15:40". The pace is the least-squares slope of the window's readings in the request log;
/// the projection starts from the latest reading.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Projection {
    pub window: Window,
    /// Utilization gained per hour at this pace (1.0 = the whole window); 0 when flat.
    pub per_hour: f64,
    /// When the limit (utilization 1.0) is reached at this pace, Unix seconds; `None` when it
    /// is not reached before the window resets (or the pace is flat).
    pub limit_at: Option<i64>,
    /// The window's reset, Unix seconds, when known.
    pub reset: Option<i64>,
    /// How many readings the pace is drawn from, and since when (Unix seconds).
    pub samples: u64,
    pub since: i64,
}

impl Projection {
    /// The projection from `readings` taken since `since`, the latest utilization `current`
    /// and the window's `reset`, at `now` (all Unix seconds); `None` when the readings are too
    /// few or too close together to tell a pace.
    pub fn from_readings(
        window: Window,
        r: &Readings,
        since: i64,
        now: i64,
        current: f64,
        reset: Option<i64>,
    ) -> Option<Self> {
        let n = r.n as f64;
        let spread = n * r.sum_xx - r.sum_x * r.sum_x;
        if r.n < 2 || r.last_x - r.first_x < MIN_SPAN_SECS || spread <= 0.0 {
            return None;
        }
        let per_sec = ((n * r.sum_xy - r.sum_x * r.sum_y) / spread).max(0.0);
        let limit_at = if current >= 1.0 {
            Some(now)
        } else if per_sec > 0.0 {
            let at = now as f64 + (1.0 - current) / per_sec;
            (at.is_finite() && reset.is_none_or(|reset| at < reset as f64)).then_some(at as i64)
        } else {
            None
        };
        Some(Self {
            window,
            per_hour: per_sec * 3600.0,
            limit_at,
            reset,
            samples: r.n,
            since,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    /// The sums of readings `(x, y)`.
    fn readings(points: &[(f64, f64)]) -> Readings {
        let mut r = Readings {
            first_x: points.first().map_or(0.0, |p| p.0),
            last_x: points.last().map_or(0.0, |p| p.0),
            ..Readings::default()
        };
        for &(x, y) in points {
            r.n += 1;
            r.sum_x += x;
            r.sum_y += y;
            r.sum_xx += x * x;
            r.sum_xy += x * y;
        }
        r
    }

    #[test]
    fn the_pace_so_far_projects_when_the_limit_is_reached() {
        let w = Window::FiveHour;
        let now = 1_000_000;
        // 10 % an hour: 0.3 an hour ago, 0.4 now → 1.0 in six hours; the reset is in seven.
        let r = readings(&[(0.0, 0.3), (1800.0, 0.35), (3600.0, 0.4)]);
        let p =
            Projection::from_readings(w, &r, now - 3600, now, 0.4, Some(now + 7 * 3600)).unwrap();
        assert!((p.per_hour - 0.1).abs() < 1e-9, "{p:?}");
        assert_eq!(p.limit_at, Some(now + 6 * 3600));
        assert_eq!((p.samples, p.since), (3, now - 3600));
        // A reset before that: the limit is not reached in this window.
        let p = Projection::from_readings(w, &r, 0, now, 0.4, Some(now + 3600)).unwrap();
        assert_eq!(p.limit_at, None);
        // Already at the limit: now.
        let p = Projection::from_readings(w, &r, 0, now, 1.0, None).unwrap();
        assert_eq!(p.limit_at, Some(now));
        // A flat (or, after rounding, falling) pace never reaches it.
        let flat = readings(&[(0.0, 0.5), (3600.0, 0.5), (7200.0, 0.49)]);
        let p = Projection::from_readings(w, &flat, 0, now, 0.5, None).unwrap();
        assert_eq!((p.per_hour, p.limit_at), (0.0, None));
    }

    #[test]
    fn too_few_or_too_close_readings_tell_no_pace() {
        let w = Window::SevenDay;
        let one = readings(&[(10.0, 0.2)]);
        assert!(Projection::from_readings(w, &one, 0, 100, 0.2, None).is_none());
        let close = readings(&[(0.0, 0.2), (MIN_SPAN_SECS - 1.0, 0.3)]);
        assert!(Projection::from_readings(w, &close, 0, 100, 0.3, None).is_none());
        let same_time = readings(&[(5.0, 0.2), (5.0, 0.3)]);
        assert!(Projection::from_readings(w, &same_time, 0, 100, 0.3, None).is_none());
    }

    #[test]
    fn a_window_began_its_length_before_its_reset() {
        assert_eq!(
            Window::FiveHour.start(Some(20_000), 10_000),
            20_000 - 18_000
        );
        assert_eq!(Window::FiveHour.start(None, 100_000), 100_000 - 18_000);
        // A reset further away than a whole window (a bad reading) counts from now.
        assert_eq!(Window::FiveHour.start(Some(999_999), 100_000), 100_000);
    }

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
