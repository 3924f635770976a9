//! Who pays, through real sockets: the bucket of every request (response header, request log,
//! `/metrics`, summary), the extra-usage guard (nothing reaches the mock while it blocks; the
//! override; the reset; `warn` and `allow`), the alerts, and the Claude Code version floor.

use super::*;
use ccproxy_core::config::ExtraUsagePolicy;
use ccproxy_core::owner;
use secrecy::ExposeSecret;
use std::time::Instant;

const BODY: &str = r#"{"model":"claude-sonnet-4-20250514","max_tokens":16,"messages":[{"role":"user","content":"hi"}]}"#;

fn now_secs() -> i64 {
    (now_ms() / 1000) as i64
}

/// A reading of a request billed to extra usage, its 5-hour window resetting `reset_in` from now.
fn billed(reset_in: i64) -> Vec<(&'static str, String)> {
    vec![
        ("status", "allowed".into()),
        ("representative-claim", "five_hour".into()),
        ("5h-utilization", "1.0".into()),
        ("5h-reset", (now_secs() + reset_in).to_string()),
        ("7d-utilization", "0.4".into()),
        ("overage-status", "allowed".into()),
        ("overage-in-use", "true".into()),
    ]
}

fn set_quota(h: &Harness, pairs: &[(&'static str, String)]) {
    let borrowed: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
    h.mock.set_quota(&borrowed);
}

fn model_calls(h: &Harness) -> usize {
    h.mock
        .requests()
        .iter()
        .filter(|r| r.uri.starts_with("/v1/messages"))
        .count()
}

/// `POST /api/billing/allow-extra-usage` with the owner key.
async fn allow(h: &Harness, body: &'static str) -> reqwest::Response {
    h.post("/api/billing/allow-extra-usage", body)
        .header(owner::HEADER, owner::key().expose_secret())
        .send()
        .await
        .unwrap()
}

async fn send(h: &Harness) -> reqwest::Response {
    h.post("/api/v1/messages", BODY).send().await.unwrap()
}

/// Waits (bounded) until the log holds `n` model rows; returns them, newest first.
async fn rows(h: &Harness, query: &str, n: usize) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let v = h.get_json(&format!("/logs/query?limit=1000{query}")).await;
        let data = v["data"].as_array().cloned().unwrap_or_default();
        if data.len() >= n || Instant::now() > deadline {
            assert_eq!(data.len(), n, "rows: {v}");
            return data;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn every_request_says_who_paid() {
    let h = Harness::new().await;
    let r = send(&h).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-ccproxy-billing"], "plan");
    // An OpenAI client gets the header too.
    let r = h
        .post(
            "/api/v1/chat/completions",
            r#"{"model":"claude-sonnet-4-20250514","max_tokens":16,"messages":[{"role":"user","content":"hi"}]}"#,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["x-ccproxy-billing"], "plan");
    // Values not known today are unknown, never plan.
    set_quota(
        &h,
        &[
            ("status", "something_new".into()),
            ("representative-claim", "team_pool".into()),
            ("5h-utilization", "0.3".into()),
        ],
    );
    assert_eq!(send(&h).await.headers()["x-ccproxy-billing"], "unknown");
    // An error text that says extra usage marks the request so, whatever the reading.
    h.mock
        .set_quota(&[("status", "allowed"), ("representative-claim", "five_hour")]);
    let r = h
        .post("/api/v1/messages", BODY)
        .header("x-mock", "error-third-party")
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["x-ccproxy-billing"], "extra_usage");
    let message = expect_error(r, 400, "invalid_request_error").await;
    assert!(
        message.contains("Third-party apps"),
        "passed through: {message}"
    );

    let all = rows(&h, "", 4).await;
    let buckets: Vec<&str> = all.iter().map(|r| r["billing"].as_str().unwrap()).collect();
    assert_eq!(buckets, ["extra_usage", "unknown", "plan", "plan"]);
    assert_eq!(rows(&h, "&billing=plan", 2).await.len(), 2);
    let bad = h
        .http
        .get(h.url("/logs/query?billing=free"))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    let metrics = h.get_text("/metrics").await;
    assert!(
        metrics.contains(r#"ccproxy_billed_requests_total{mode="api",bucket="plan"} 2"#),
        "{metrics}"
    );
    assert!(metrics.contains(r#"ccproxy_billed_requests_total{mode="api",bucket="extra_usage"} 1"#));
    // The error text alone does not block: upstream refused, nothing was billed.
    assert_eq!(send(&h).await.status(), 200);
}

#[tokio::test]
async fn a_request_billed_to_extra_usage_blocks_the_next_until_the_owner_allows_it() {
    let h = Harness::new().await;
    set_quota(&h, &billed(2280));
    let r = send(&h).await;
    assert_eq!(r.status(), 200, "the billed answer itself is delivered");
    assert_eq!(r.headers()["x-ccproxy-billing"], "extra_usage");
    let before = model_calls(&h);

    // Refused before anything is sent, in each API's shape, with when and how.
    let r = send(&h).await;
    let retry: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((2000..=2280).contains(&retry), "{retry}");
    let message = expect_error(r, 429, "rate_limit_error").await;
    for part in [
        "extra usage",
        "5-hour",
        "in 3",
        "UTC",
        "Allow extra usage until the reset",
    ] {
        assert!(message.contains(part), "{part}: {message}");
    }
    let r = h
        .post(
            "/api/v1/chat/completions",
            r#"{"model":"claude-sonnet-4-20250514","max_tokens":16,"messages":[{"role":"user","content":"hi"}]}"#,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429);
    let v: Value = r.json().await.unwrap();
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("extra usage"),
        "{v}"
    );
    assert!(v.get("type").is_none(), "OpenAI's shape: {v}");
    assert_eq!(model_calls(&h), before, "nothing reached upstream");

    // Everything else still answers; the state is visible.
    assert_eq!(
        h.http.get(h.url("/health")).send().await.unwrap().status(),
        200
    );
    let status = h.get_json("/api/status").await;
    assert_eq!(status["billing"]["blocking"], true, "{status}");
    assert_eq!(status["billing"]["policy"], "block");
    assert_eq!(status["billing"]["block"]["window"], "5-hour");
    let quota = h.get_json("/api/quota").await;
    assert_eq!(quota["billing"]["blocking"], true);
    assert_eq!(quota["bucket"], "extra_usage");
    assert_eq!(
        quota["quota"]["raw"]["overage-in-use"], "true",
        "kept verbatim"
    );
    let logged = rows(&h, "", 3).await;
    assert_eq!(logged[0]["error_type"], "extra_usage_blocked", "{logged:?}");
    let summary = h.get_json("/logs/summary?window=1h").await;
    assert_eq!(summary["extra_usage"]["requests"], 1, "{summary}");
    let alerts = h.get_json("/api/alerts").await;
    let kinds: Vec<&str> = alerts["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["kind"].as_str().unwrap())
        .collect();
    assert!(
        kinds.contains(&"extra_usage") && kinds.contains(&"blocked"),
        "{alerts}"
    );
    assert!(
        kinds.contains(&"utilization"),
        "100 % of the 5-hour window: {alerts}"
    );
    let latest = alerts["latest"].as_u64().unwrap();
    assert_eq!(
        h.get_json(&format!("/api/alerts?since={latest}")).await["alerts"],
        json!([])
    );

    // The override is the owner's: a plain local client cannot spend the money.
    let r = h
        .post("/api/billing/allow-extra-usage", r#"{"allow":true}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403, "{}", r.text().await.unwrap());
    let r = allow(&h, r#"{"allow":"yes"}"#).await;
    assert_eq!(r.status(), 400);
    let r = allow(&h, r#"{"allow":true}"#).await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(
        v["allowed_until"], status["billing"]["block"]["resets_at"],
        "{v}"
    );
    assert_eq!(send(&h).await.status(), 200, "allowed until the reset");
    assert_eq!(model_calls(&h), before + 1);
    let r = allow(&h, r#"{"allow":false}"#).await;
    assert_eq!(r.status(), 200);
    assert_eq!(send(&h).await.status(), 429, "the override ended");

    // A fresh reading that says the plan applies lifts the block (here: Claude Code mode's or
    // another client's; the mock's next answer is a plan reading).
}

#[tokio::test]
async fn the_block_lifts_by_itself_at_the_reset() {
    let h = Harness::new().await;
    set_quota(&h, &billed(2));
    assert_eq!(send(&h).await.status(), 200);
    assert_eq!(send(&h).await.status(), 429);
    h.mock
        .set_quota(&[("status", "allowed"), ("representative-claim", "five_hour")]);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let status = h.get_json("/api/status").await;
        if status["billing"]["blocking"] == false {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the block never lifted: {status}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let r = send(&h).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-ccproxy-billing"], "plan");
}

#[tokio::test]
async fn a_used_up_window_blocks_only_when_extra_usage_would_pay() {
    let h = Harness::new().await;
    let reset = (now_secs() + 3600).to_string();
    // Used up, extra usage off: upstream refuses by itself; nothing to guard.
    set_quota(
        &h,
        &[
            ("status", "rejected".into()),
            ("representative-claim", "seven_day".into()),
            ("7d-utilization", "1.0".into()),
            ("7d-reset", reset.clone()),
            ("overage-status", "rejected".into()),
            ("overage-disabled-reason", "org_level_disabled".into()),
        ],
    );
    let r = h
        .post("/api/v1/messages", BODY)
        .header("x-mock", "error-429")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429);
    assert_eq!(send(&h).await.status(), 200, "not blocked");
    // Used up, extra usage available: the next request would be billed.
    set_quota(
        &h,
        &[
            ("status", "rejected".into()),
            ("representative-claim", "seven_day".into()),
            ("7d-utilization", "1.0".into()),
            ("7d-reset", reset),
            ("overage-status", "allowed".into()),
        ],
    );
    assert_eq!(send(&h).await.status(), 200);
    let message = expect_error(send(&h).await, 429, "rate_limit_error").await;
    assert!(message.contains("weekly"), "{message}");
}

#[tokio::test]
async fn warn_sends_and_alerts_allow_sends() {
    for policy in [ExtraUsagePolicy::Warn, ExtraUsagePolicy::Allow] {
        let h = Harness::with(|c| c.billing.extra_usage = policy).await;
        set_quota(&h, &billed(3600));
        for _ in 0..3 {
            let r = send(&h).await;
            assert_eq!(r.status(), 200, "{policy:?}");
            assert_eq!(r.headers()["x-ccproxy-billing"], "extra_usage");
        }
        assert_eq!(model_calls(&h), 3);
        let alerts = h.get_json("/api/alerts").await;
        let titles: Vec<&str> = alerts["alerts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["title"].as_str().unwrap())
            .collect();
        assert_eq!(
            titles
                .iter()
                .filter(|t| **t == "Extra usage in use")
                .count(),
            1,
            "once, not per request: {titles:?}"
        );
        let warned = titles.contains(&"Requests are drawn from extra usage");
        assert_eq!(warned, policy == ExtraUsagePolicy::Warn, "{titles:?}");
        assert!(!titles.contains(&"Requests paused to avoid extra usage"));
        let status = h.get_json("/api/status").await;
        assert_eq!(status["billing"]["blocking"], false);
    }
}

#[tokio::test]
async fn the_claude_code_version_floor_says_what_to_update() {
    let h = Harness::new().await;
    for (path, body) in [
        ("/api/v1/messages", BODY),
        (
            "/api/v1/chat/completions",
            r#"{"model":"claude-sonnet-4-20250514","max_tokens":16,"messages":[{"role":"user","content":"hi"}]}"#,
        ),
    ] {
        let r = h
            .post(path, body)
            .header("x-mock", "error-version-floor")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400);
        let v: Value = r.json().await.unwrap();
        let message = v["error"]["message"].as_str().unwrap();
        assert!(message.contains("Claude Code 9.9.9 or newer"), "{v}");
        assert!(message.contains("update the client program"), "{v}");
    }
    let status = h.get_json("/api/status").await;
    assert_eq!(status["version_floor"]["need"], "9.9.9", "{status}");
    let logged = rows(&h, "", 2).await;
    assert!(
        logged
            .iter()
            .all(|r| r["error_type"] == "claude_code_version_too_old"),
        "{logged:?}"
    );
}

/// A plan reading of the 5-hour window at `used`, resetting at `reset`.
fn plan_at(used: &str, reset: i64) -> Vec<(&'static str, String)> {
    vec![
        ("status", "allowed".into()),
        ("representative-claim", "five_hour".into()),
        ("5h-utilization", used.into()),
        ("5h-reset", reset.to_string()),
        ("7d-utilization", "0.2".into()),
    ]
}

#[tokio::test]
async fn the_quota_panel_projects_the_pace_of_use_from_the_log() {
    let h = Harness::new().await;
    let reset = now_secs() + 3 * 3600;
    for used in ["0.3", "0.4", "0.5"] {
        set_quota(&h, &plan_at(used, reset));
        assert_eq!(send(&h).await.status(), 200);
    }
    rows(&h, "", 3).await;
    // Readings a few milliseconds apart tell no pace.
    let v = h.get_json("/api/quota").await;
    assert!(v["projection"]["five_hour"].is_null(), "{v}");

    // Spread them over the last hour as an hour of use would have: 10 % every half hour.
    let conn = rusqlite::Connection::open(h.data.path().join("requests.db")).unwrap();
    conn.execute(
        "UPDATE requests SET ts = ts - ((SELECT MAX(id) FROM requests) - id) * 1800000",
        [],
    )
    .unwrap();
    let v = h.get_json("/api/quota").await;
    let p = &v["projection"]["five_hour"];
    let per_hour = p["per_hour"].as_f64().unwrap();
    assert!((per_hour - 0.2).abs() < 0.01, "{v}");
    // 50 % left at 20 % an hour: the limit comes in 2.5 hours, before the reset in 3.
    let limit_at = p["limit_at"].as_i64().unwrap();
    let expected = now_secs() + 9000;
    assert!(
        (limit_at - expected).abs() < 120,
        "{limit_at} vs {expected}: {v}"
    );
    assert_eq!(
        (p["samples"].as_u64(), p["reset"].as_i64()),
        (Some(3), Some(reset))
    );
    // The weekly window stayed at 20 %: a flat pace reaches no limit.
    let weekly = &v["projection"]["seven_day"];
    assert_eq!(
        (weekly["per_hour"].as_f64(), &weekly["limit_at"]),
        (Some(0.0), &Value::Null),
        "{v}"
    );

    // A window resetting in an hour is not used up at this pace.
    set_quota(&h, &plan_at("0.5", now_secs() + 3600));
    assert_eq!(send(&h).await.status(), 200);
    rows(&h, "", 4).await;
    let v = h.get_json("/api/quota").await;
    let p = &v["projection"]["five_hour"];
    assert!(p["per_hour"].as_f64().unwrap() > 0.1, "{v}");
    assert!(p["limit_at"].is_null(), "{v}");
}
