//! The warm pool, the concurrency limit, sessions, and shutdown.

use super::*;

async fn status(h: &Harness) -> Value {
    h.http
        .get(h.url("/sdk/status"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn requests_are_served_by_warm_processes() {
    let h = Harness::with(|c| c.claude.pool_size = 2).await;
    // The first request starts a process itself and warms the pool for its system prompt.
    let mut body = user("hello");
    body["system"] = json!("S1");
    assert_eq!(h.post("/sdk/v1/messages", &body).await.status(), 200);
    // Two warm processes initialized (a logged start is not yet an initialized process).
    wait_warm(&h, 2).await;
    assert_eq!(h.pids().len(), 3);
    let s = status(&h).await;
    assert_eq!(s["pool"]["warm"], 2, "{s}");
    assert_eq!(s["cli"]["version"], "2.1.331", "{s}");
    // The next request takes a process that was started (and initialized) before it arrived.
    // (Asked of the pool: the log's order of starts is not the pool's.)
    let warm_pids = h.server().state().claude_code.pids();
    assert_eq!(warm_pids.len(), 2);
    let users_before = h.user_lines().len();
    assert_eq!(h.post("/sdk/v1/messages", &body).await.status(), 200);
    assert_eq!(h.user_lines().len(), users_before + 1);
    let served_by = h
        .log()
        .iter()
        .filter(|e| {
            e["stdin"]
                .as_str()
                .is_some_and(|l| l.contains("\"type\":\"user\""))
        })
        .count();
    assert_eq!(served_by, 2);
    eventually("the used warm process to be replaced and stopped", || {
        h.pids().len() == 4 && warm_pids.iter().filter(|p| alive(**p)).count() == 1
    })
    .await;
    // Warm processes start on the model last asked for; another model is switched to.
    let set_models = |h: &Harness| {
        h.log()
            .iter()
            .filter_map(|e| e["stdin"].as_str())
            .filter(|l| l.contains("set_model"))
            .count()
    };
    assert_eq!(set_models(&h), 0);
    wait_warm(&h, 2).await;
    assert_eq!(h.pids().len(), 4, "the pool refilled");
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut other = body.clone();
    other["model"] = json!("opus");
    assert_eq!(h.post("/sdk/v1/messages", &other).await.status(), 200);
    assert_eq!(set_models(&h), 1);
    // A different system prompt cannot use them (its prompt is fixed at start).
    body["system"] = json!("S2");
    assert_eq!(h.post("/sdk/v1/messages", &body).await.status(), 200);
    let argv_prompts: Vec<String> = h
        .log()
        .iter()
        .filter_map(|e| e["argv"].as_array().cloned())
        .map(|a| {
            let i = a.iter().position(|x| x == "--system-prompt").unwrap();
            a[i + 1].as_str().unwrap().to_string()
        })
        .collect();
    assert!(argv_prompts.iter().filter(|p| *p == "S2").count() >= 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_full_queue_is_a_429_and_a_crashed_warm_process_is_replaced() {
    let h = Harness::with(|c| {
        c.claude.max_concurrent = 1;
        c.claude.max_queued = 0;
        c.claude.pool_size = 1;
    })
    .await;
    let mut body = user("FAKE_HANG");
    body["stream"] = json!(true);
    let mut hanging = h.post("/sdk/v1/messages", &body).await;
    hanging.chunk().await.unwrap();
    let message = expect_error(
        h.post("/sdk/v1/messages", &user("hello")).await,
        429,
        "rate_limit_error",
    )
    .await;
    assert!(message.contains("claude.max_concurrent"), "{message}");
    drop(hanging);
    // Once the hung turn is interrupted, the slot is free again.
    let mut ok = false;
    for _ in 0..100 {
        let r = h.post("/sdk/v1/messages", &user("hello")).await;
        if r.status() == 200 {
            ok = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(ok, "the slot was never freed");
    // Kill the warm process behind the pool's back: the next request still works.
    wait_warm(&h, 1).await;
    let warm = h.server().state().claude_code.pids()[0];
    kill_9(warm);
    eventually("the kill", || !alive(warm)).await;
    assert_eq!(
        h.post("/sdk/v1/messages", &user("hello")).await.status(),
        200
    );
}

/// Waits up to 10 s for `n` warm processes in the pool.
async fn wait_warm(h: &Harness, n: u64) {
    for _ in 0..200 {
        if status(h).await["pool"]["warm"] == n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the pool never had {n} warm processes");
}

fn kill_9(pid: u32) {
    std::process::Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status()
        .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_session_keeps_one_cli_and_sends_only_the_new_message() {
    let h = Harness::with(|c| c.claude.pool_size = 0).await;
    let first = json!({"model": "sonnet", "max_tokens": 10, "messages": [{"role": "user", "content": "FAKE_ECHO one"}]});
    let r: Value = h
        .post("/sdk/s-1/v1/messages", &first)
        .await
        .json()
        .await
        .unwrap();
    let reply = message_text(&r);
    assert_eq!(reply, "\"FAKE_ECHO one\"");
    let second = json!({"model": "sonnet", "max_tokens": 10, "messages": [
        {"role": "user", "content": "FAKE_ECHO one"},
        {"role": "assistant", "content": [{"type": "text", "text": reply}]},
        {"role": "user", "content": "FAKE_ECHO two"}
    ]});
    let r: Value = h
        .post("/sdk/s-1/v1/messages", &second)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        message_text(&r),
        "\"FAKE_ECHO two\"",
        "only the new message was sent"
    );
    assert_eq!(h.pids().len(), 1, "one process served the session");
    // A history that is not the session's starts it over, with the whole transcript.
    let diverged = json!({"model": "sonnet", "max_tokens": 10, "messages": [
        {"role": "user", "content": "FAKE_ECHO other"},
        {"role": "assistant", "content": "something else"},
        {"role": "user", "content": "FAKE_ECHO three"}
    ]});
    let r: Value = h
        .post("/sdk/s-1/v1/messages", &diverged)
        .await
        .json()
        .await
        .unwrap();
    assert!(message_text(&r).contains("<conversation>"), "{r}");
    assert_eq!(h.pids().len(), 2);
    // Sessions are separate; the OpenAI surface works in a session too.
    let r = h
        .post(
            "/sdk/s-2/v1/chat/completions",
            &json!({"model": "gpt-4o", "messages": [{"role": "user", "content": "FAKE_ECHO x"}]}),
        )
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(h.pids().len(), 3);
    assert_eq!(status(&h).await["pool"]["sessions"], 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn idle_sessions_expire() {
    let h = Harness::with(|c| {
        c.claude.pool_size = 0;
        c.claude.session_idle_secs = 1;
    })
    .await;
    assert_eq!(
        h.post("/sdk/s/v1/messages", &user("hello")).await.status(),
        200
    );
    let pid = h.pids()[0];
    assert!(alive(pid));
    eventually("the idle session to close", || !alive(pid)).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn no_cli_process_outlives_the_server() {
    let mut h = Harness::with(|c| c.claude.pool_size = 2).await;
    assert_eq!(
        h.post("/sdk/s/v1/messages", &user("hello")).await.status(),
        200
    );
    assert_eq!(
        h.post("/sdk/v1/messages", &user("hello")).await.status(),
        200
    );
    wait_warm(&h, 2).await;
    let mut body = user("FAKE_HANG");
    body["stream"] = json!(true);
    let mut hanging = h.post("/sdk/v1/messages", &body).await;
    hanging.chunk().await.unwrap();
    let pids = h.pids();
    assert!(pids.len() >= 4, "{pids:?}");
    h.shutdown().await;
    drop(hanging);
    eventually("every CLI to stop", || pids.iter().all(|p| !alive(*p))).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn prewarm_fills_the_pool_at_start_up() {
    let h = Harness::with(|c| {
        c.claude.pool_size = 2;
        c.claude.prewarm = true;
    })
    .await;
    wait_warm(&h, 2).await;
    assert!(h.user_lines().is_empty());
}
