//! What each command does.

use crate::cli::{Cli, Command, ConfigArg, ConfigCommand, DockerCommand, LogFormatArg, ServeArgs};
use anyhow::Context;
use ccproxy_core::config::{ConfigSources, LoadedConfig};
use figment::value::Value;
use std::process::ExitCode;
use std::sync::Arc;

/// Runs the parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    if let Some(shell) = cli.show_completion {
        let mut command = <Cli as clap::CommandFactory>::command();
        clap_complete::generate(shell, &mut command, "ccproxy", &mut std::io::stdout());
        return Ok(ExitCode::SUCCESS);
    }
    match cli.command {
        None => serve(cli.serve),
        Some(Command::Serve(args)) => serve(args),
        Some(Command::Config(ConfigCommand::Show { source, json })) => config_show(&source, json),
        Some(Command::Auth(command)) => crate::auth::run(command),
        Some(Command::Ui { source, no_browser }) => ui(&source, no_browser),
        Some(Command::GenerateToken { save }) => generate_token(save),
        Some(Command::Health { source, addr }) => health(&source, addr),
        Some(Command::Docker(DockerCommand::BuildImage {
            source,
            tag,
            base,
            cli_version,
        })) => build_image(&source, tag, &base, &cli_version),
    }
}

fn value<T: serde::Serialize>(v: T) -> Value {
    // Serializing strings, numbers and booleans into a figment value cannot fail.
    Value::serialize(v).unwrap_or_else(|_| Value::from(String::new()))
}

/// Loads the configuration with `--config` and, for `serve`, its flags.
pub fn load(source: &ConfigArg, args: Option<&ServeArgs>) -> anyhow::Result<LoadedConfig> {
    let mut flags = Vec::new();
    if let Some(a) = args {
        if let Some(h) = &a.host {
            flags.push(("server.host", value(h)));
        }
        if let Some(p) = a.port {
            flags.push(("server.port", value(p)));
        }
        if let Some(t) = &a.auth_token {
            flags.push(("security.auth_token", value(t)));
        }
        if let Some(l) = &a.log_level {
            flags.push(("server.log_level", value(l)));
        }
        if let Some(f) = a.log_format {
            let f = match f {
                LogFormatArg::Text => "text",
                LogFormatArg::Json => "json",
            };
            flags.push(("server.log_format", value(f)));
        }
        if a.allow_remote_without_auth {
            flags.push(("server.allow_remote_without_auth", value(true)));
        }
    }
    let sources = ConfigSources {
        config_file: source.config.clone(),
        dir: None,
        flags,
    };
    Ok(LoadedConfig::load(&sources)?)
}

fn serve(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let loaded = load(&args.source, Some(&args))?;
    ccproxy_core::telemetry::init(&loaded.config.server).map_err(anyhow::Error::msg)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async move {
        let mut signal = ShutdownSignal::install()?;
        let mut loaded = loaded;
        let mut previous = None;
        // Settings changed in the web UI restart the server with the configuration reloaded
        // from the same sources; a reload or start that fails goes back to the last good one.
        loop {
            if let Some(file) = &loaded.file {
                tracing::info!("configuration file: {}", file.display());
            }
            let host = loaded.settings_host();
            let config = Arc::new(loaded.config.clone());
            let handle = match ccproxy_core::server::start_with(config, host).await {
                Ok(handle) => handle,
                Err(e) => match previous.take() {
                    Some(good) => {
                        tracing::error!("cannot start with the new settings ({e}); going back to the previous ones");
                        loaded = good;
                        continue;
                    }
                    None => return Err(e.into()),
                },
            };
            announce(&handle);
            tokio::select! {
                _ = signal.recv() => {
                    tracing::info!("shutting down");
                    handle.shutdown().await.context("shutting down")?;
                    tracing::info!("stopped");
                    return Ok::<_, anyhow::Error>(ExitCode::SUCCESS);
                }
                _ = handle.restart_requested() => {
                    tracing::info!("restarting with the new settings");
                    handle.shutdown().await.context("shutting down for a restart")?;
                    match load(&args.source, Some(&args)) {
                        Ok(reloaded) => previous = Some(std::mem::replace(&mut loaded, reloaded)),
                        Err(e) => tracing::error!("the new settings do not load ({e:#}); keeping the previous ones"),
                    }
                }
            }
        }
    })
}

fn announce(handle: &ccproxy_core::server::ServerHandle) {
    let addr = handle.local_addr();
    tracing::info!(
        "ccproxy {} listening on http://{addr} — API mode: ANTHROPIC_BASE_URL=http://{addr}/api",
        env!("CARGO_PKG_VERSION")
    );
    let status = handle.state().credentials.status();
    if status.state != "valid" {
        tracing::warn!(
            "credentials: {} — {}",
            status.state,
            status
                .message
                .as_deref()
                .unwrap_or("requests will refresh the token first")
        );
    }
}

/// Ctrl-C, or SIGTERM on Unix. Created before the server starts, so a signal that arrives the
/// moment it is listening is never missed (or left to kill the process without a clean stop).
struct ShutdownSignal {
    #[cfg(unix)]
    term: tokio::signal::unix::Signal,
    #[cfg(unix)]
    int: tokio::signal::unix::Signal,
}

impl ShutdownSignal {
    fn install() -> anyhow::Result<Self> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            Ok(Self {
                term: signal(SignalKind::terminate()).context("installing the SIGTERM handler")?,
                int: signal(SignalKind::interrupt()).context("installing the SIGINT handler")?,
            })
        }
        #[cfg(not(unix))]
        Ok(Self {})
    }

    async fn recv(&mut self) {
        #[cfg(unix)]
        tokio::select! {
            _ = self.term.recv() => {},
            _ = self.int.recv() => {},
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

fn config_show(source: &ConfigArg, json: bool) -> anyhow::Result<ExitCode> {
    let loaded = load(source, None)?;
    let shown = loaded.show();
    if json {
        let rows: Vec<_> = shown
            .iter()
            .map(|s| {
                serde_json::json!({
                    "key": s.key,
                    "value": serde_json::from_str::<serde_json::Value>(&s.value).unwrap_or_default(),
                    "source": s.source,
                })
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&rows)?);
    } else {
        let width = shown.iter().map(|s| s.key.len()).max().unwrap_or(0);
        for s in &shown {
            println!("{:width$} = {}  ({})", s.key, s.value, s.source);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `ccproxy ui`: the link the running server published (see `ccproxy_core::owner`), opened in a
/// browser once the server answers at it.
fn ui(source: &ConfigArg, no_browser: bool) -> anyhow::Result<ExitCode> {
    let loaded = load(source, None)?;
    let path = ccproxy_core::owner::published_file(&loaded.config)
        .context("no data folder to find the running server in (is HOME set?)")?;
    let text = std::fs::read_to_string(&path).with_context(|| {
        format!(
            "no running ccproxy server has published its web UI link in {}; start one with `ccproxy serve`",
            path.display()
        )
    })?;
    let doc: serde_json::Value = serde_json::from_str(&text)
        .with_context(|| format!("{} is not a server's web UI link", path.display()))?;
    let (Some(url), Some(link)) = (doc["url"].as_str(), doc["link"].as_str()) else {
        anyhow::bail!("{} is not a server's web UI link", path.display());
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let health = runtime.block_on(async {
        reqwest::Client::new()
            .get(format!("{url}/health"))
            .timeout(std::time::Duration::from_secs(5))
            .send()
            .await
    });
    if !health.is_ok_and(|r| r.status().is_success()) {
        eprintln!(
            "error: the server that wrote {} does not answer at {url}; is `ccproxy serve` running?",
            path.display()
        );
        return Ok(ExitCode::from(1));
    }
    if no_browser || !crate::auth::browser_available() {
        println!("{link}");
    } else if let Err(e) = open::that_detached(link) {
        eprintln!("could not open a browser ({e}); run `ccproxy ui --no-browser` for the link");
        return Ok(ExitCode::from(1));
    } else {
        eprintln!("Opened the web UI at {url}");
    }
    Ok(ExitCode::SUCCESS)
}

fn generate_token(save: bool) -> anyhow::Result<ExitCode> {
    let token = ccproxy_core::api_token::generate();
    println!("{token}");
    if save {
        let path = std::path::Path::new(".env");
        let key = save_token(path, &token)?;
        eprintln!(
            "\nSaved as {key} in {} — `ccproxy serve` run from this folder uses it.",
            path.display()
        );
        // A one-shot command's check of its own environment, not configuration.
        #[allow(clippy::disallowed_methods)]
        let overridden = std::env::var_os("AUTH_TOKEN").is_some()
            || std::env::var_os("SECURITY__AUTH_TOKEN").is_some();
        if overridden {
            eprintln!("warning: an AUTH_TOKEN / SECURITY__AUTH_TOKEN environment variable is set and overrides .env");
        }
    }
    eprintln!(
        "\nStart the server with it (any one of):\n  \
         ccproxy serve --auth-token {token}\n  \
         AUTH_TOKEN={token} ccproxy serve\n  \
         ccproxy generate-token --save   # writes a new one to ./.env\n\n\
         Then give it to clients:\n  \
         export ANTHROPIC_API_KEY={token}   # Anthropic SDKs, Claude Code (x-api-key)\n  \
         export OPENAI_API_KEY={token}      # OpenAI SDKs (Authorization: Bearer)"
    );
    Ok(ExitCode::SUCCESS)
}

/// Writes the token into a `.env` file: replaces the line that sets it (`SECURITY__AUTH_TOKEN`
/// if present, as it wins over `AUTH_TOKEN`), else appends `AUTH_TOKEN=…`; other lines are kept.
/// Returns the variable written.
fn save_token(path: &std::path::Path, token: &str) -> anyhow::Result<&'static str> {
    let existing = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    let sets = |line: &str, key: &str| {
        let line = line.trim_start();
        let line = line.strip_prefix("export ").unwrap_or(line).trim_start();
        line.strip_prefix(key)
            .is_some_and(|rest| rest.trim_start().starts_with('='))
    };
    let key = if existing.lines().any(|l| sets(l, "SECURITY__AUTH_TOKEN")) {
        "SECURITY__AUTH_TOKEN"
    } else {
        "AUTH_TOKEN"
    };
    let mut out = String::with_capacity(existing.len() + 64);
    let mut replaced = false;
    for line in existing.lines() {
        if sets(line, key) && !replaced {
            out.push_str(&format!("{key}={token}\n"));
            replaced = true;
        } else if !sets(line, key) {
            out.push_str(line);
            out.push('\n');
        }
    }
    if !replaced {
        out.push_str(&format!("{key}={token}\n"));
    }
    ccproxy_core::credentials::file::write_atomic(path, out.as_bytes())
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(key)
}

/// `GET /health` on the server (a container's `HEALTHCHECK`): exit 0 on a 200, 1 otherwise, within
/// 5 s. Plain HTTP/1.1 over a socket: no client library, no TLS, nothing else to go wrong.
fn health(source: &ConfigArg, addr: Option<String>) -> anyhow::Result<ExitCode> {
    use std::io::{Read, Write};
    let addr = match addr {
        Some(addr) => addr,
        None => format!("127.0.0.1:{}", load(source, None)?.config.server.port),
    };
    let target = std::net::ToSocketAddrs::to_socket_addrs(&addr)
        .with_context(|| format!("`{addr}` is not an address"))?
        .next()
        .with_context(|| format!("`{addr}` is not an address"))?;
    let within = std::time::Duration::from_secs(5);
    let mut stream = std::net::TcpStream::connect_timeout(&target, within)
        .with_context(|| format!("no server at {addr}"))?;
    stream.set_read_timeout(Some(within))?;
    stream.set_write_timeout(Some(within))?;
    write!(
        stream,
        "GET /health HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )?;
    // `HTTP/1.1 200`: the status line's first 12 bytes.
    let mut head = [0u8; 12];
    stream
        .read_exact(&mut head)
        .with_context(|| format!("{addr} closed the connection"))?;
    let line = String::from_utf8_lossy(&head);
    if line.starts_with("HTTP/1.1 200") {
        println!("ok");
        Ok(ExitCode::SUCCESS)
    } else {
        anyhow::bail!("{addr}/health answered `{}`", line.trim())
    }
}

/// The image Claude Code mode runs the CLI in, built from the Dockerfile this binary carries
/// (`docker build -`: the Dockerfile on stdin, no build context), Docker's output shown as it
/// comes.
fn build_image(
    source: &ConfigArg,
    tag: Option<String>,
    base: &str,
    cli_version: &str,
) -> anyhow::Result<ExitCode> {
    use std::io::Write;
    let tag = match tag {
        Some(tag) => tag,
        None => load(source, None)?.config.claude.docker.image.clone(),
    };
    let mut child = std::process::Command::new("docker")
        .args(["build", "--tag", &tag, "--build-arg"])
        .arg(format!("BASE={base}"))
        .arg("--build-arg")
        .arg(format!("CLAUDE_CODE_VERSION={cli_version}"))
        .arg("-")
        .stdin(std::process::Stdio::piped())
        .spawn()
        .context("cannot run `docker` (is Docker installed?)")?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(ccproxy_core::claude_code::docker::DOCKERFILE.as_bytes())?;
    }
    let status = child.wait()?;
    if !status.success() {
        anyhow::bail!("`docker build` failed ({status})");
    }
    println!(
        "Built {tag}. Use it with claude.isolation = \"docker\" (and claude.docker.image = \"{tag}\" if that is not the default)."
    );
    Ok(ExitCode::SUCCESS)
}
