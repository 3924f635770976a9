//! `ccproxy-bench`: how much latency and throughput the proxy costs, measured against the mock
//! upstream on loopback. Not a test: run it by hand (see README, "Benchmark").
//!
//! For each body size (2 KB, 50 KB) and response kind (JSON, SSE) it measures the same requests
//! sent directly to the mock and through a real `ccproxy` process, at concurrency 1 and 32:
//! p50/p99 latency (whole response read), requests per second; then the proxy's start-up time
//! (spawn to accepting connections), idle RSS and peak RSS.
// Test infrastructure: it reads its scenario from the environment and runs its tasks for
// the life of the process.
#![allow(clippy::disallowed_methods)]

mod floor;
mod sdk;

use anyhow::{bail, Context};
use ccproxy_mock_upstream::Mock;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Args {
    duration: Duration,
    /// `--observability`: only the observability on/off comparison.
    observability_only: bool,
    /// `--floor`: only the nginx floor table.
    floor_only: bool,
    /// Rounds of the observability and floor tables (medians are reported).
    rounds: usize,
    binary: PathBuf,
    /// `--sdk`: measure Claude Code mode with this `claude` instead.
    sdk: Option<PathBuf>,
    /// `--docker IMAGE`: also Claude Code mode with `claude.isolation = "docker"` in this image.
    docker: Option<String>,
}

fn parse_args() -> anyhow::Result<Args> {
    let mut duration = Duration::from_secs(3);
    let mut binary = std::env::current_exe()?.with_file_name("ccproxy");
    let mut sdk = None;
    let mut docker = None;
    let mut observability_only = false;
    let mut floor_only = false;
    let mut rounds = 3;
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--seconds" => {
                duration = Duration::from_secs_f64(it.next().context("--seconds N")?.parse()?)
            }
            "--binary" => binary = PathBuf::from(it.next().context("--binary PATH")?),
            "--observability" => observability_only = true,
            "--floor" => floor_only = true,
            "--rounds" => rounds = it.next().context("--rounds N")?.parse::<usize>()?.max(1),
            "--sdk" => sdk = Some(PathBuf::from("tests/e2e/node_modules/.bin/claude")),
            "--claude" => sdk = Some(PathBuf::from(it.next().context("--claude PATH")?)),
            "--docker" => docker = Some(it.next().context("--docker IMAGE")?),
            "-h" | "--help" => {
                println!("usage: ccproxy-bench [--seconds N per run, default 3] [--binary path/to/ccproxy]");
                println!(
                    "       ccproxy-bench --observability|--floor [--rounds N, default 3] [--seconds N]"
                );
                println!("       ccproxy-bench --sdk [--claude path/to/claude] [--binary path/to/ccproxy] [--docker IMAGE]");
                std::process::exit(0);
            }
            other => bail!("unknown argument {other}"),
        }
    }
    if !binary.is_file() {
        bail!(
            "{} not found: build it first with `cargo build --release -p ccproxy-cli`",
            binary.display()
        );
    }
    Ok(Args {
        duration,
        observability_only,
        floor_only,
        rounds,
        binary,
        sdk,
        docker,
    })
}

fn chat_body(size: usize, stream: bool) -> bytes::Bytes {
    let head = format!(
        r#"{{"model":"gpt-4o","max_tokens":1024,"stream":{stream},"messages":[{{"role":"user","content":""#
    );
    let tail = r#""}]}"#;
    let pad = size.saturating_sub(head.len() + tail.len());
    bytes::Bytes::from(format!("{head}{}{tail}", "a".repeat(pad)))
}

fn request_body(size: usize, stream: bool) -> bytes::Bytes {
    let head = format!(
        r#"{{"model":"claude-sonnet-4-20250514","max_tokens":1024,"stream":{stream},"messages":[{{"role":"user","content":""#
    );
    let tail = r#""}]}"#;
    let pad = size.saturating_sub(head.len() + tail.len());
    bytes::Bytes::from(format!("{head}{}{tail}", "a".repeat(pad)))
}

struct Measured {
    p50: Duration,
    p99: Duration,
    rps: f64,
    count: usize,
}

async fn load(
    url: &str,
    body: bytes::Bytes,
    concurrency: usize,
    duration: Duration,
) -> anyhow::Result<Measured> {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency)
        .tcp_nodelay(true)
        .build()?;
    // Warm the connections.
    for _ in 0..concurrency.max(20) {
        client
            .post(url)
            .body(body.clone())
            .send()
            .await?
            .bytes()
            .await?;
    }
    let started = Instant::now();
    let deadline = started + duration;
    let mut workers = Vec::new();
    for _ in 0..concurrency {
        let client = client.clone();
        let url = url.to_string();
        let body = body.clone();
        workers.push(tokio::spawn(async move {
            let mut latencies = Vec::with_capacity(50_000);
            while Instant::now() < deadline {
                let t = Instant::now();
                let response = client
                    .post(&url)
                    .header("content-type", "application/json")
                    .header("x-api-key", "dummy")
                    .body(body.clone())
                    .send()
                    .await?;
                if !response.status().is_success() {
                    anyhow::bail!("status {}", response.status());
                }
                response.bytes().await?;
                latencies.push(t.elapsed());
            }
            Ok::<_, anyhow::Error>(latencies)
        }));
    }
    let mut all = Vec::new();
    for w in workers {
        all.extend(w.await??);
    }
    let elapsed = started.elapsed();
    all.sort_unstable();
    let pct = |p: f64| all[((all.len() as f64 * p) as usize).min(all.len() - 1)];
    Ok(Measured {
        p50: pct(0.50),
        p99: pct(0.99),
        rps: all.len() as f64 / elapsed.as_secs_f64(),
        count: all.len(),
    })
}

/// Waits until a proxy is idle — its CPU time unchanged over 200 ms — so one run's background
/// work (the request log's writer) is finished, and counted, before the next run. Watched from
/// outside (`/proc`): asking the proxy would cost it CPU.
async fn settle(proxy: &Proxy) {
    let pid = proxy.child.id();
    let mut last = cpu_time(pid);
    let mut quiet = 0;
    for _ in 0..600 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let now = cpu_time(pid);
        quiet = if now == last { quiet + 1 } else { 0 };
        if quiet == 2 {
            return;
        }
        last = now;
    }
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

struct Proxy {
    child: Child,
    port: u16,
    _home: tempfile::TempDir,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `ccproxy serve` against the mock; returns it and the time until it accepted a connection.
fn start_proxy(
    binary: &PathBuf,
    upstream: &str,
    observe: bool,
) -> anyhow::Result<(Proxy, Duration)> {
    let home = tempfile::tempdir()?;
    let creds = home.path().join(".config/ccproxy/credentials.json");
    std::fs::create_dir_all(creds.parent().context("parent")?)?;
    std::fs::write(
        &creds,
        r#"{"claudeAiOauth":{"accessToken":"bench-token","refreshToken":"r","expiresAt":4102444800000}}"#,
    )?;
    let port = free_port()?;
    let started = Instant::now();
    let mut command = Command::new(binary);
    command.env_clear();
    // The runtime's shape, for experiments (`TOKIO_WORKER_THREADS=1 ccproxy-bench …`).
    if let Some(workers) = std::env::var_os("TOKIO_WORKER_THREADS") {
        command.env("TOKIO_WORKER_THREADS", workers);
    }
    let child = command
        .args(["serve", "--port", &port.to_string()])
        .env("HOME", home.path())
        .env("CLAUDE__API_BASE_URL", upstream)
        .env(
            "OBSERVABILITY__ENABLED",
            if observe { "true" } else { "false" },
        )
        .current_dir(home.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .with_context(|| format!("starting {}", binary.display()))?;
    let proxy = Proxy {
        child,
        port,
        _home: home,
    };
    loop {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Ok((proxy, started.elapsed()));
        }
        if started.elapsed() > Duration::from_secs(10) {
            bail!("the proxy did not start within 10 s");
        }
        std::thread::sleep(Duration::from_micros(200));
    }
}

/// CPU time (user + system) a process has used so far.
fn cpu_time(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may hold spaces) start at state; utime and stime
    // are fields 14 and 15, in clock ticks.
    let after = stat.rsplit(')').next().unwrap_or("");
    let fields: Vec<u64> = after
        .split_whitespace()
        .skip(11)
        .take(2)
        .filter_map(|f| f.parse().ok())
        .collect();
    // /proc reports in USER_HZ, which is 100 on every Linux architecture.
    Duration::from_secs_f64(fields.iter().sum::<u64>() as f64 / 100.0)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// The cost of observability (record, access log, metrics, request log): the same
/// pass-through through `proxy` and through a second proxy with `observability.enabled =
/// false`, in interleaved rounds (which one goes first alternates); medians of the rounds.
/// CPU is the proxy process's user + system time per request, its writer thread included
/// (each run is followed by [`settle`], so its background writes are counted with it).
async fn observability_table(args: &Args, mock: &Mock, proxy: &Proxy) -> anyhow::Result<()> {
    let (quiet, _) = start_proxy(&args.binary, &mock.url(), false)?;
    println!();
    println!(
        "Observability on vs off ({} interleaved rounds of {:.0} s, medians):",
        args.rounds,
        args.duration.as_secs_f64()
    );
    println!();
    println!("| body | response | concurrency | on p50 ms | off p50 ms | on p99 ms | off p99 ms | on req/s | off req/s | req/s cost | on CPU µs/req | off CPU µs/req | CPU cost |");
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    for size in [2 * 1024, 50 * 1024] {
        for stream in [false, true] {
            for concurrency in [1, 32] {
                let body = request_body(size, stream);
                // [on, off]: p50 ms, p99 ms, req/s, CPU µs per request.
                let mut runs: [[Vec<f64>; 4]; 2] = Default::default();
                for round in 0..args.rounds {
                    let order = if round % 2 == 0 { [0, 1] } else { [1, 0] };
                    for which in order {
                        let target = if which == 0 { proxy } else { &quiet };
                        settle(target).await;
                        let cpu_before = cpu_time(target.child.id());
                        let m = load(
                            &format!("http://127.0.0.1:{}/api/v1/messages", target.port),
                            body.clone(),
                            concurrency,
                            args.duration,
                        )
                        .await?;
                        settle(target).await;
                        let cpu = cpu_time(target.child.id()) - cpu_before;
                        for (series, value) in runs[which].iter_mut().zip([
                            m.p50.as_secs_f64() * 1000.0,
                            m.p99.as_secs_f64() * 1000.0,
                            m.rps,
                            cpu.as_secs_f64() * 1e6 / m.count.max(1) as f64,
                        ]) {
                            series.push(value);
                        }
                    }
                }
                let [on, off] = runs.map(|r| r.map(median));
                println!(
                    "| {} KB | {} | {} | {:.3} | {:.3} | {:.3} | {:.3} | {:.0} | {:.0} | {:+.1} % | {:.1} | {:.1} | {:+.1} % |",
                    size / 1024,
                    if stream { "SSE" } else { "JSON" },
                    concurrency,
                    on[0],
                    off[0],
                    on[1],
                    off[1],
                    on[2],
                    off[2],
                    (off[2] - on[2]) / off[2] * 100.0,
                    on[3],
                    off[3],
                    (on[3] - off[3]) / off[3] * 100.0,
                );
            }
        }
    }
    Ok(())
}

fn rss_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with(field))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

fn ms(d: Duration) -> String {
    format!("{:.3}", d.as_secs_f64() * 1000.0)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 1)]
async fn main() -> anyhow::Result<()> {
    let args = parse_args()?;
    if let Some(claude) = &args.sdk {
        return sdk::run(&args.binary, claude, args.docker.as_deref()).await;
    }
    let mock = Mock::start_with(false).await;
    mock.set_reply_size(512, 16);
    if args.observability_only {
        let (proxy, _) = start_proxy(&args.binary, &mock.url(), true)?;
        return observability_table(&args, &mock, &proxy).await;
    }
    if args.floor_only {
        return floor::table(&args, &mock).await;
    }

    // Start-up: median of 9 cold starts.
    let mut startups = Vec::new();
    for _ in 0..9 {
        let (proxy, took) = start_proxy(&args.binary, &mock.url(), true)?;
        startups.push(took);
        drop(proxy);
    }
    startups.sort_unstable();
    let (proxy, _) = start_proxy(&args.binary, &mock.url(), true)?;
    std::thread::sleep(Duration::from_millis(300));
    let pid = proxy.child.id();
    let idle_rss = rss_kib(pid, "VmRSS:").unwrap_or(0);

    println!("| body | response | concurrency | direct p50 ms | proxy p50 ms | added p50 ms | direct p99 ms | proxy p99 ms | added p99 ms | direct req/s | proxy req/s |");
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    for size in [2 * 1024, 50 * 1024] {
        for stream in [false, true] {
            let body = request_body(size, stream);
            for concurrency in [1, 32] {
                let direct = load(
                    &format!("{}/v1/messages", mock.url()),
                    body.clone(),
                    concurrency,
                    args.duration,
                )
                .await?;
                let proxied = load(
                    &format!("http://127.0.0.1:{}/api/v1/messages", proxy.port),
                    body.clone(),
                    concurrency,
                    args.duration,
                )
                .await?;
                settle(&proxy).await;
                println!(
                    "| {} KB | {} | {} | {} | {} | {} | {} | {} | {} | {:.0} | {:.0} |",
                    size / 1024,
                    if stream { "SSE" } else { "JSON" },
                    concurrency,
                    ms(direct.p50),
                    ms(proxied.p50),
                    ms(proxied.p50.saturating_sub(direct.p50)),
                    ms(direct.p99),
                    ms(proxied.p99),
                    ms(proxied.p99.saturating_sub(direct.p99)),
                    direct.rps,
                    proxied.rps,
                );
            }
        }
    }
    // Translation overhead: OpenAI Chat Completions vs the Anthropic pass-through, both proxied.
    println!();
    println!("| body | response | pass-through p50 ms | chat completions p50 ms | added p50 ms | pass-through p99 ms | chat completions p99 ms | chat req/s (c=32) |");
    println!("|---|---|---|---|---|---|---|---|");
    for size in [2 * 1024, 50 * 1024] {
        for stream in [false, true] {
            let plain = load(
                &format!("http://127.0.0.1:{}/api/v1/messages", proxy.port),
                request_body(size, stream),
                1,
                args.duration,
            )
            .await?;
            let chat_url = format!("http://127.0.0.1:{}/api/v1/chat/completions", proxy.port);
            settle(&proxy).await;
            let chat = load(&chat_url, chat_body(size, stream), 1, args.duration).await?;
            settle(&proxy).await;
            let chat_32 = load(&chat_url, chat_body(size, stream), 32, args.duration).await?;
            settle(&proxy).await;
            println!(
                "| {} KB | {} | {} | {} | {} | {} | {} | {:.0} |",
                size / 1024,
                if stream { "SSE" } else { "JSON" },
                ms(plain.p50),
                ms(chat.p50),
                ms(chat.p50.saturating_sub(plain.p50)),
                ms(plain.p99),
                ms(chat.p99),
                chat_32.rps,
            );
        }
    }
    let peak_rss = rss_kib(pid, "VmHWM:").unwrap_or(0);

    observability_table(&args, &mock, &proxy).await?;
    floor::table(&args, &mock).await?;
    println!();
    println!("| proxy start-up to listening (median of 9) | idle RSS | peak RSS under load |");
    println!("|---|---|---|");
    println!(
        "| {} ms | {:.1} MB | {:.1} MB |",
        ms(startups[startups.len() / 2]),
        idle_rss as f64 / 1024.0,
        peak_rss as f64 / 1024.0
    );
    Ok(())
}
