//! `ccproxy-bench --sdk`: Claude Code mode's latency against the mock upstream, for the real
//! `claude` CLI: time to first token and total time of a streamed reply
//!
//! - from the CLI itself (an initialized process, user line written → first text delta / result),
//! - from the CLI started for the request (spawn → first text delta / result),
//! - through `/sdk` with the warm pool,
//! - through `/sdk` with no pool (`claude.pool_size = 0`: a cold spawn per request),
//!
//! and a client tool loop through `/sdk` with the warm pool: time to the streamed `tool_use`, and
//! from sending the `tool_result` to the continuation's first token.

use anyhow::{bail, Context};
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const RUNS: usize = 10;

struct Sample {
    first_token: Duration,
    total: Duration,
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort_unstable();
    v[v.len() / 2]
}

fn report(name: &str, samples: &[Sample]) {
    let ft = median(samples.iter().map(|s| s.first_token).collect());
    let total = median(samples.iter().map(|s| s.total).collect());
    println!("| {name} | {} | {} |", super::ms(ft), super::ms(total));
}

/// The CLI driven directly over stream-json. With `warm`, the clock starts once it has
/// initialized; otherwise at spawn.
fn direct(claude: &Path, mock: &str, home: &Path, warm: bool) -> anyhow::Result<Sample> {
    let started = Instant::now();
    let mut child = Command::new(claude)
        .args([
            "--output-format",
            "stream-json",
            "--verbose",
            "--system-prompt",
            "",
            "--permission-mode",
            "default",
            "--include-partial-messages",
            "--input-format",
            "stream-json",
        ])
        .env("HOME", home)
        .env("ANTHROPIC_BASE_URL", mock)
        .env("ANTHROPIC_API_KEY", "dummy")
        .env("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1")
        .current_dir(home)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .context("starting claude")?;
    let mut stdin = child.stdin.take().context("stdin")?;
    let mut lines = BufReader::new(child.stdout.take().context("stdout")?).lines();
    writeln!(
        stdin,
        r#"{{"type":"control_request","request_id":"req_1_bench","request":{{"subtype":"initialize","hooks":null}}}}"#
    )?;
    for line in lines.by_ref() {
        if line?.contains("control_response") {
            break;
        }
    }
    let t0 = if warm { Instant::now() } else { started };
    writeln!(
        stdin,
        r#"{{"type":"user","session_id":"","message":{{"role":"user","content":"hello"}},"parent_tool_use_id":null}}"#
    )?;
    let mut first = None;
    for line in lines.by_ref() {
        let line = line?;
        if first.is_none() && line.contains("text_delta") {
            first = Some(t0.elapsed());
        }
        if line.starts_with(r#"{"type":"result""#) || line.contains(r#""type":"result""#) {
            let total = t0.elapsed();
            drop(stdin);
            let _ = child.wait();
            return Ok(Sample {
                first_token: first.unwrap_or(total),
                total,
            });
        }
    }
    bail!("claude ended without a result")
}

/// One streamed request through `/sdk`.
async fn through_proxy(client: &reqwest::Client, port: u16) -> anyhow::Result<Sample> {
    let t0 = Instant::now();
    let mut response = client
        .post(format!("http://127.0.0.1:{port}/sdk/v1/messages"))
        .header("content-type", "application/json")
        .body(r#"{"model":"sonnet","max_tokens":64,"stream":true,"messages":[{"role":"user","content":"hello"}]}"#)
        .send()
        .await?;
    if !response.status().is_success() {
        bail!("status {}: {}", response.status(), response.text().await?);
    }
    let mut first = None;
    while let Some(chunk) = response.chunk().await? {
        if first.is_none() && chunk.windows(10).any(|w| w == b"text_delta") {
            first = Some(t0.elapsed());
        }
    }
    let total = t0.elapsed();
    Ok(Sample {
        first_token: first.unwrap_or(total),
        total,
    })
}

const WEATHER: &str = r#"{"name":"get_weather","description":"Get the current weather for a location.","input_schema":{"type":"object","properties":{"location":{"type":"string"}},"required":["location"]}}"#;

/// One client tool round trip through `/sdk`, both halves streamed: the call (request sent →
/// the `tool_use` block starts; its `total` is the whole response) and its result (follow-up
/// sent → the continuation's first `text_delta`; `total` the whole continuation).
async fn tool_round_trip(client: &reqwest::Client, port: u16) -> anyhow::Result<(Sample, Sample)> {
    let url = format!("http://127.0.0.1:{port}/sdk/v1/messages");
    let question = r#"{"role":"user","content":"What is the weather in Paris?"}"#;
    let t0 = Instant::now();
    let first = format!(
        r#"{{"model":"sonnet","max_tokens":64,"stream":true,"tools":[{WEATHER}],"messages":[{question}]}}"#
    );
    let mut response = client
        .post(&url)
        .header("content-type", "application/json")
        .body(first)
        .send()
        .await?;
    if !response.status().is_success() {
        bail!("status {}: {}", response.status(), response.text().await?);
    }
    let (mut at, mut body) = (None, Vec::new());
    while let Some(chunk) = response.chunk().await? {
        if at.is_none() && chunk.windows(10).any(|w| w == b"\"tool_use\"") {
            at = Some(t0.elapsed());
        }
        body.extend_from_slice(&chunk);
    }
    let call = Sample {
        first_token: at.context("no tool_use in the response")?,
        total: t0.elapsed(),
    };
    // The call's id and input, from the stream's events.
    let (mut id, mut input) = (String::new(), String::new());
    for line in String::from_utf8_lossy(&body).lines() {
        let Some(data) = line.strip_prefix("data: ") else {
            continue;
        };
        let event: serde_json::Value = serde_json::from_str(data)?;
        match event["type"].as_str() {
            Some("content_block_start") if event["content_block"]["type"] == "tool_use" => {
                id = event["content_block"]["id"]
                    .as_str()
                    .unwrap_or_default()
                    .into();
            }
            Some("content_block_delta") => {
                input.push_str(event["delta"]["partial_json"].as_str().unwrap_or_default());
            }
            _ => {}
        }
    }
    let use_block = serde_json::json!({"type": "tool_use", "id": id, "name": "get_weather",
        "input": serde_json::from_str::<serde_json::Value>(&input)?});
    let result =
        serde_json::json!({"type": "tool_result", "tool_use_id": id, "content": "Sunny, 21 C"});
    let follow_up = format!(
        r#"{{"model":"sonnet","max_tokens":64,"stream":true,"tools":[{WEATHER}],"messages":[{question},{},{}]}}"#,
        serde_json::json!({"role": "assistant", "content": [use_block]}),
        serde_json::json!({"role": "user", "content": [result]}),
    );
    let t1 = Instant::now();
    let mut response = client
        .post(&url)
        .header("content-type", "application/json")
        .body(follow_up)
        .send()
        .await?;
    if !response.status().is_success() {
        bail!("status {}: {}", response.status(), response.text().await?);
    }
    let mut first = None;
    while let Some(chunk) = response.chunk().await? {
        if first.is_none() && chunk.windows(10).any(|w| w == b"text_delta") {
            first = Some(t1.elapsed());
        }
    }
    let total = t1.elapsed();
    let result = Sample {
        first_token: first.context("no text in the continuation")?,
        total,
    };
    Ok((call, result))
}

/// `ccproxy serve` in Claude Code mode in front of `mock`, with `pool` warm processes, in the
/// Docker image `docker` when given (the workspace and Claude Code's directory then belong to
/// the container's uid 1000).
fn start_sdk_proxy(
    binary: &Path,
    claude: &Path,
    mock: &str,
    pool: usize,
    docker: Option<&str>,
) -> anyhow::Result<super::Proxy> {
    let home = tempfile::tempdir()?;
    let port = super::free_port()?;
    let mut command = Command::new(binary);
    command.env_clear();
    if let Some(image) = docker {
        let (workspace, claude_dir) = (home.path().join("workspace"), home.path().join(".claude"));
        for dir in [&workspace, &claude_dir] {
            std::fs::create_dir_all(dir)?;
            std::os::unix::fs::chown(dir, Some(1000), Some(1000))?;
        }
        command
            .env("CLAUDE__ISOLATION", "docker")
            .env("CLAUDE__DOCKER__IMAGE", image)
            .env("CLAUDE__CWD", workspace)
            .env("CLAUDE_CONFIG_DIR", claude_dir);
    }
    let child = command
        .args(["serve", "--port", &port.to_string()])
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home.path())
        .env("CLAUDE__CLI_PATH", claude)
        .env("CLAUDE__POOL_SIZE", pool.to_string())
        .env("OBSERVABILITY__REQUEST_LOG", "false")
        .env("ANTHROPIC_BASE_URL", mock)
        .env("ANTHROPIC_API_KEY", "dummy")
        .current_dir(home.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    let proxy = super::Proxy {
        child,
        port,
        _home: home,
    };
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if started.elapsed() > Duration::from_secs(10) {
            bail!("the proxy did not start");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    Ok(proxy)
}

/// Through `/sdk` with the warm pool and with none, in `docker` when given: first token and
/// total of each turn. Warm turns are paced by `pace`, so the pool has refilled.
async fn through_sdk(
    client: &reqwest::Client,
    (binary, claude, mock): (&Path, &Path, &str),
    docker: Option<&str>,
    pace: Duration,
) -> anyhow::Result<(Vec<Sample>, Vec<Sample>)> {
    let pooled = start_sdk_proxy(binary, claude, mock, 2, docker)?;
    // The first request fills the pool; the measured ones find a warm process each.
    through_proxy(client, pooled.port).await?;
    let mut warm = Vec::new();
    for _ in 0..RUNS {
        tokio::time::sleep(pace).await;
        warm.push(through_proxy(client, pooled.port).await?);
    }
    drop(pooled);
    let cold_proxy = start_sdk_proxy(binary, claude, mock, 0, docker)?;
    let mut cold = Vec::new();
    for _ in 0..RUNS {
        cold.push(through_proxy(client, cold_proxy.port).await?);
    }
    drop(cold_proxy);
    Ok((warm, cold))
}

pub async fn run(binary: &Path, claude: &Path, docker: Option<&str>) -> anyhow::Result<()> {
    if !claude.is_file() {
        bail!(
            "{} not found: install the CLI (`npm ci --prefix tests/e2e`) or pass --claude PATH",
            claude.display()
        );
    }
    let claude = &std::fs::canonicalize(claude)?;
    let mock = ccproxy_mock_upstream::Mock::start_with(false).await;
    mock.set_reply_size(256, 16);
    let home = tempfile::tempdir()?;
    let url = mock.url();

    let (c, u, h) = (claude.to_path_buf(), url.clone(), home.path().to_path_buf());
    let (warm_cli, cold_cli) = tokio::task::spawn_blocking(move || {
        let warm: anyhow::Result<Vec<Sample>> =
            (0..RUNS).map(|_| direct(&c, &u, &h, true)).collect();
        let cold: anyhow::Result<Vec<Sample>> =
            (0..RUNS).map(|_| direct(&c, &u, &h, false)).collect();
        Ok::<_, anyhow::Error>((warm?, cold?))
    })
    .await??;

    let client = reqwest::Client::new();
    let (warm, cold) = through_sdk(
        &client,
        (binary, claude, &url),
        None,
        Duration::from_millis(1500),
    )
    .await?;
    let in_docker = match docker {
        Some(image) => Some(
            through_sdk(
                &client,
                (binary, claude, &url),
                Some(image),
                Duration::from_secs(4),
            )
            .await?,
        ),
        None => None,
    };
    let pooled = start_sdk_proxy(binary, claude, &url, 2, None)?;
    // Requests with tools have their own warm processes (the tools are part of a process's
    // start): the first fills the pool for them.
    tool_round_trip(&client, pooled.port).await?;
    let (mut calls, mut results) = (Vec::new(), Vec::new());
    for _ in 0..RUNS {
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let (call, result) = tool_round_trip(&client, pooled.port).await?;
        calls.push(call);
        results.push(result);
    }
    drop(pooled);

    println!("Claude Code mode, streamed reply of 16 deltas from the mock (median of {RUNS}):");
    println!();
    println!("| path | first token ms | total ms |");
    println!("|---|---|---|");
    report("CLI directly, already initialized", &warm_cli);
    report("CLI directly, spawned for the request", &cold_cli);
    report("/sdk, warm pool", &warm);
    report("/sdk, no pool (spawn per request)", &cold);
    if let Some((warm, cold)) = &in_docker {
        report("/sdk in Docker, warm pool", warm);
        report("/sdk in Docker, no pool (a container per request)", cold);
    }
    println!();
    println!("A client tool round trip through /sdk, warm pool (median of {RUNS}):");
    println!();
    println!("| half | first event ms | total ms |");
    println!("|---|---|---|");
    report("request with tools → the `tool_use` block", &calls);
    report(
        "`tool_result` follow-up → the continuation's first token",
        &results,
    );
    let added = median(warm.iter().map(|s| s.first_token).collect())
        .saturating_sub(median(warm_cli.iter().map(|s| s.first_token).collect()));
    println!();
    println!(
        "warm pool first token over the CLI's own: {} ms (target ≤ 50 ms)",
        super::ms(added)
    );
    Ok(())
}
