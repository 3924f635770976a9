//! The floor: what a reverse proxy costs on this machine, measured in the same run as CCProxy.
//!
//! Debian's `nginx` (found on `PATH`, in `/usr/sbin`, or named by `NGINX=…`) is started twice
//! over in one instance: as the *canned upstream* (a `return 200` of the mock's own JSON and SSE
//! replies, so it costs next to nothing) and as a `proxy_pass` reverse proxy in front of it with a
//! keep-alive upstream pool and `proxy_buffering off` (how one deploys nginx in front of an
//! event-stream API). A CCProxy process points at the same canned upstream. Each row then
//! reports CCProxy's added latency and its requests/s as ratios to nginx's: absolute figures on
//! a shared 2-core VM move by tens of percent between runs, the ratio far less.
//!
//! The canned upstream chooses its reply from the query (`?reply=sse`), which every path passes on
//! unchanged; the reply's bytes are the mock's, fetched once at start.

use crate::{cpu_time, free_port, load, median, request_body, settle, start_proxy, Args, Measured};
use anyhow::{bail, Context};
use ccproxy_mock_upstream::Mock;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running nginx (upstream and proxy), stopped on drop.
struct Nginx {
    child: Child,
    binary: PathBuf,
    upstream_port: u16,
    proxy_port: u16,
    dir: tempfile::TempDir,
}

impl Drop for Nginx {
    /// `nginx -s stop`: the master stops its workers, then exits (killing the master alone
    /// would leave the workers running, holding the ports).
    fn drop(&mut self) {
        let stopped = Command::new(&self.binary)
            .arg("-p")
            .arg(self.dir.path())
            .arg("-c")
            .arg(self.dir.path().join("nginx.conf"))
            .args(["-s", "stop"])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !stopped {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

/// Where nginx is: `NGINX`, else `nginx` on `PATH`, else Debian's `/usr/sbin/nginx`.
fn nginx_binary() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("NGINX") {
        return Some(PathBuf::from(p));
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin")])
        .map(|dir| dir.join("nginx"))
        .find(|p| p.is_file())
}

/// `text` as an nginx double-quoted string (nginx reads `\"` and `\\`; a `$` would be a variable).
fn quoted(text: &[u8]) -> anyhow::Result<String> {
    let text = std::str::from_utf8(text).context("the canned reply is not UTF-8")?;
    if text.contains('$') {
        bail!("the canned reply holds a `$`, which nginx would read as a variable");
    }
    Ok(format!(
        "\"{}\"",
        text.replace('\\', "\\\\").replace('"', "\\\"")
    ))
}

impl Nginx {
    /// Starts nginx with `json` and `sse` as the canned replies; `None` when nginx is not installed.
    fn start(json: &[u8], sse: &[u8]) -> anyhow::Result<Option<Nginx>> {
        let Some(binary) = nginx_binary() else {
            return Ok(None);
        };
        let dir = tempfile::tempdir()?;
        let d = dir.path().display();
        let (upstream_port, proxy_port) = (free_port()?, free_port()?);
        // As root nginx switches its workers to `user`; the bench's own user is the simplest
        // choice that exists everywhere (the workers only answer from memory).
        let user = if std::fs::metadata("/proc/self")?.uid() == 0 {
            "user root;"
        } else {
            ""
        };
        let config = format!(
            r#"{user}
worker_processes auto;
daemon off;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {d}/body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
    # Request bodies stay in memory, as CCProxy keeps them (50 KB is the largest sent).
    client_body_buffer_size 256k;
    client_max_body_size 16m;
    keepalive_requests 1000000;
    keepalive_timeout 120s;
    tcp_nodelay on;

    upstream canned {{
        server 127.0.0.1:{upstream_port};
        keepalive 64;
    }}
    server {{
        listen 127.0.0.1:{upstream_port};
        location = /v1/messages {{
            if ($arg_reply = "sse") {{ rewrite ^ /canned-sse last; }}
            rewrite ^ /canned-json last;
        }}
        location = /canned-json {{
            internal;
            default_type application/json;
            return 200 {json};
        }}
        location = /canned-sse {{
            internal;
            default_type "text/event-stream; charset=utf-8";
            return 200 {sse};
        }}
    }}
    server {{
        listen 127.0.0.1:{proxy_port};
        location / {{
            proxy_pass http://canned;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_buffering off;
        }}
    }}
}}
"#,
            json = quoted(json)?,
            sse = quoted(sse)?,
        );
        let file = dir.path().join("nginx.conf");
        std::fs::write(&file, config)?;
        let child = Command::new(&binary)
            .arg("-p")
            .arg(dir.path())
            .arg("-c")
            .arg(&file)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        let mut nginx = Nginx {
            child,
            binary,
            upstream_port,
            proxy_port,
            dir,
        };
        let started = Instant::now();
        loop {
            let up = |port| std::net::TcpStream::connect(("127.0.0.1", port)).is_ok();
            if up(upstream_port) && up(proxy_port) {
                return Ok(Some(nginx));
            }
            if let Some(status) = nginx.child.try_wait()? {
                let mut err = String::new();
                if let Some(mut e) = nginx.child.stderr.take() {
                    use std::io::Read;
                    let _ = e.read_to_string(&mut err);
                }
                let log =
                    std::fs::read_to_string(nginx.dir.path().join("error.log")).unwrap_or_default();
                bail!("nginx exited ({status}): {err}{log}");
            }
            if started.elapsed() > Duration::from_secs(10) {
                bail!("nginx did not listen within 10 s");
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

/// The mock's reply to a 2 KB request, as bytes.
async fn canned(mock: &Mock, stream: bool) -> anyhow::Result<bytes::Bytes> {
    let reply = reqwest::Client::new()
        .post(format!("{}/v1/messages", mock.url()))
        .header("content-type", "application/json")
        .header("x-api-key", "dummy")
        .body(request_body(2048, stream))
        .send()
        .await?
        .error_for_status()?;
    Ok(reply.bytes().await?)
}

/// CPU time of nginx: its master and its workers.
fn nginx_cpu(pid: u32) -> Duration {
    let children =
        std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).unwrap_or_default();
    children
        .split_whitespace()
        .filter_map(|c| c.parse().ok())
        .map(cpu_time)
        .sum::<Duration>()
        + cpu_time(pid)
}

/// `ours` over `theirs`, or "–" when `theirs` is within the noise of zero (a proxy cannot add
/// nothing; at concurrency 32 the queueing in front of the direct path can exceed nginx's cost).
fn ratio(ours: f64, theirs: f64) -> String {
    if theirs > 0.001 {
        format!("{:.2}", ours / theirs)
    } else {
        "–".into()
    }
}

/// Voluntary context switches of all of a process's threads so far: each is a sleep, so each is
/// one later wake-up.
fn wake_ups(pid: u32) -> u64 {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return 0;
    };
    tasks
        .filter_map(Result::ok)
        .filter_map(|t| std::fs::read_to_string(t.path().join("status")).ok())
        .filter_map(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("voluntary_ctxt_switches:"))
                .and_then(|v| v.trim().parse::<u64>().ok())
        })
        .sum()
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// One path's figures over the rounds of a row: p50, p99 (ms) and req/s.
#[derive(Default)]
struct Series {
    p50: Vec<f64>,
    p99: Vec<f64>,
    rps: Vec<f64>,
}

impl Series {
    fn push(&mut self, m: &Measured) {
        self.p50.push(ms(m.p50));
        self.p99.push(ms(m.p99));
        self.rps.push(m.rps);
    }
    fn medians(&self) -> [f64; 3] {
        [
            median(self.p50.clone()),
            median(self.p99.clone()),
            median(self.rps.clone()),
        ]
    }
}

/// The floor table: direct to the canned upstream, through nginx, through CCProxy; `rounds`
/// rounds per row with the order of the three rotated, medians reported.
pub async fn table(args: &Args, mock: &Mock) -> anyhow::Result<()> {
    let (json, sse) = (canned(mock, false).await?, canned(mock, true).await?);
    let Some(nginx) = Nginx::start(&json, &sse)? else {
        println!();
        println!("nginx is not installed: the floor table is skipped (`apt-get install nginx`, or NGINX=path/to/nginx).");
        return Ok(());
    };
    let upstream = format!("http://127.0.0.1:{}", nginx.upstream_port);
    let (proxy, _) = start_proxy(&args.binary, &upstream, true)?;
    let pid = proxy.child.id();
    let nginx_pid = nginx.child.id();
    settle(&proxy).await;
    let idle_rss = crate::rss_kib(pid, "VmRSS:").unwrap_or(0);
    println!();
    println!(
        "The floor: nginx `proxy_pass` and CCProxy in front of the same canned upstream (nginx `return 200`), {} rounds of {:.0} s, medians; \"× nginx\" = CCProxy's added time over nginx's:",
        args.rounds,
        args.duration.as_secs_f64()
    );
    println!();
    println!("| body | reply | concurrency | direct p50 ms | nginx added p50 ms | CCProxy added p50 ms | p50 × nginx | nginx added p99 ms | CCProxy added p99 ms | p99 × nginx | nginx req/s | CCProxy req/s | req/s % of nginx | nginx CPU µs/req | CCProxy CPU µs/req | CCProxy wake-ups/req |");
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    for size in [2 * 1024, 50 * 1024] {
        for stream in [false, true] {
            let query = if stream { "?reply=sse" } else { "" };
            let urls = [
                format!("{upstream}/v1/messages{query}"),
                format!("http://127.0.0.1:{}/v1/messages{query}", nginx.proxy_port),
                format!("http://127.0.0.1:{}/api/v1/messages{query}", proxy.port),
            ];
            let body = request_body(size, stream);
            for concurrency in [1, 32] {
                let mut series: [Series; 3] = Default::default();
                let (mut cpu, mut nginx_cpus, mut wakes) = (Vec::new(), Vec::new(), Vec::new());
                for round in 0..args.rounds {
                    for k in 0..3 {
                        let which = (round + k) % 3;
                        if which == 2 {
                            settle(&proxy).await;
                        }
                        let (cpu_before, wakes_before) = (cpu_time(pid), wake_ups(pid));
                        let nginx_before = nginx_cpu(nginx_pid);
                        let m =
                            load(&urls[which], body.clone(), concurrency, args.duration).await?;
                        if which == 1 {
                            // The canned upstream's share is in this too (it is nginx as
                            // well); it is small next to the proxying (see the direct runs).
                            let n = m.count.max(1) as f64;
                            nginx_cpus.push(
                                (nginx_cpu(nginx_pid) - nginx_before).as_secs_f64() * 1e6 / n,
                            );
                        }
                        if which == 2 {
                            settle(&proxy).await;
                            let n = m.count.max(1) as f64;
                            cpu.push((cpu_time(pid) - cpu_before).as_secs_f64() * 1e6 / n);
                            wakes.push((wake_ups(pid) - wakes_before) as f64 / n);
                        }
                        series[which].push(&m);
                    }
                }
                let [direct, via_nginx, via_ccproxy] = series.map(|s| s.medians());
                let added = |path: [f64; 3], i: usize| (path[i] - direct[i]).max(0.0);
                let (n50, c50) = (added(via_nginx, 0), added(via_ccproxy, 0));
                let (n99, c99) = (added(via_nginx, 1), added(via_ccproxy, 1));
                println!(
                    "| {} KB | {} | {} | {:.3} | {:.3} | {:.3} | {} | {:.3} | {:.3} | {} | {:.0} | {:.0} | {:.0} % | {:.1} | {:.1} | {:.1} |",
                    size / 1024,
                    if stream { "SSE" } else { "JSON" },
                    concurrency,
                    direct[0],
                    n50,
                    c50,
                    ratio(c50, n50),
                    n99,
                    c99,
                    ratio(c99, n99),
                    via_nginx[2],
                    via_ccproxy[2],
                    via_ccproxy[2] / via_nginx[2] * 100.0,
                    median(nginx_cpus),
                    median(cpu),
                    median(wakes),
                );
            }
        }
    }
    println!();
    println!(
        "CCProxy's memory in this table: idle RSS {:.1} MB, peak RSS under its load {:.1} MB.",
        idle_rss as f64 / 1024.0,
        crate::rss_kib(pid, "VmHWM:").unwrap_or(0) as f64 / 1024.0
    );
    Ok(())
}
