//! What each command does.

use crate::cli::{Cli, Command, ConfigArg, ConfigCommand, LogFormatArg, ServeArgs};
use anyhow::Context;
use ccproxy_core::config::{ConfigSources, LoadedConfig};
use figment::value::Value;
use std::process::ExitCode;
use std::sync::Arc;

/// Runs the parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        None => serve(cli.serve),
        Some(Command::Serve(args)) => serve(args),
        Some(Command::Config(ConfigCommand::Show { source, json })) => config_show(&source, json),
        Some(Command::GenerateToken) => {
            generate_token();
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn value<T: serde::Serialize>(v: T) -> Value {
    // Serializing strings, numbers and booleans into a figment value cannot fail.
    Value::serialize(v).unwrap_or_else(|_| Value::from(String::new()))
}

fn load(source: &ConfigArg, args: Option<&ServeArgs>) -> anyhow::Result<LoadedConfig> {
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
    if let Some(file) = &loaded.file {
        tracing::info!("configuration file: {}", file.display());
    }
    let config = Arc::new(loaded.config);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async move {
        let handle = ccproxy_core::server::start(config.clone()).await?;
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
                status.message.as_deref().unwrap_or("requests will refresh the token first")
            );
        }
        shutdown_signal().await;
        tracing::info!("shutting down");
        handle.shutdown().await.context("shutting down")?;
        tracing::info!("stopped");
        Ok::<_, anyhow::Error>(ExitCode::SUCCESS)
    })
}

/// Resolves on Ctrl-C, or SIGTERM on Unix.
async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
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

fn generate_token() {
    let token = ccproxy_core::api_token::generate();
    println!("{token}");
    eprintln!(
        "\nStart the server with it (any one of):\n  \
         ccproxy serve --auth-token {token}\n  \
         AUTH_TOKEN={token} ccproxy serve\n  \
         echo 'AUTH_TOKEN={token}' >> .env\n\n\
         Then give it to clients:\n  \
         export ANTHROPIC_API_KEY={token}   # Anthropic SDKs, Claude Code (x-api-key)\n  \
         export OPENAI_API_KEY={token}      # OpenAI SDKs (Authorization: Bearer)"
    );
}
