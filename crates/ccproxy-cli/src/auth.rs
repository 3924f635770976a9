//! `ccproxy auth …`: log in, check, refresh and log out, over `ccproxy_core::login` and
//! `ccproxy_core::credentials` — the same code the server's `/oauth/*` routes use.

use crate::cli::AuthCommand;
use crate::commands::load;
use anyhow::Context;
use ccproxy_core::config::Config;
use ccproxy_core::credentials::store::Store;
use ccproxy_core::credentials::{Credentials, SourceKind, Token};
use ccproxy_core::login::{self, Login};
use std::io::{BufRead, Write};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

/// Runs one `auth` subcommand.
pub fn run(command: AuthCommand) -> anyhow::Result<ExitCode> {
    let source = match &command {
        AuthCommand::Login { source, .. }
        | AuthCommand::Validate { source }
        | AuthCommand::Info { source }
        | AuthCommand::Refresh { source }
        | AuthCommand::Logout { source } => source.clone(),
    };
    let mut config = load(&source, None)?.config;
    // Warnings (a file made private, a refresh problem) go to stderr; nothing else is logged.
    let mut quiet = config.server.clone();
    quiet.log_level = "warn".into();
    let _ = ccproxy_core::telemetry::init(&quiet);
    if let AuthCommand::Login {
        timeout: Some(secs),
        ..
    } = &command
    {
        config.oauth.login_timeout_secs = (*secs).max(1);
    }
    let config = Arc::new(config);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async move {
        let http = ccproxy_core::upstream::client(&config).context("building the HTTP client")?;
        match command {
            AuthCommand::Login {
                port,
                no_browser,
                manual,
                ..
            } => login_command(&config, &http, port.unwrap_or(0), no_browser, manual).await,
            AuthCommand::Validate { .. } => validate(&config, &http),
            AuthCommand::Info { .. } => info(&config, &http).await,
            AuthCommand::Refresh { .. } => refresh(&config, &http).await,
            AuthCommand::Logout { .. } => logout(&config, &http).await,
        }
    })
}

fn ccproxy_store(config: &Config) -> anyhow::Result<Store> {
    config.ccproxy_store().context(
        "no place for the credentials file: set HOME, XDG_CONFIG_HOME or auth.credentials_file",
    )
}

/// Whether a browser can plausibly be opened here (a desktop session, or `$BROWSER`), asked of
/// the environment when `auth login` starts.
#[allow(clippy::disallowed_methods)]
pub(crate) fn browser_available() -> bool {
    if std::env::var_os("BROWSER").is_some() {
        return true;
    }
    if cfg!(any(target_os = "macos", target_os = "windows")) {
        return true;
    }
    std::env::var_os("DISPLAY").is_some() || std::env::var_os("WAYLAND_DISPLAY").is_some()
}

async fn login_command(
    config: &Config,
    http: &reqwest::Client,
    port: u16,
    no_browser: bool,
    manual: bool,
) -> anyhow::Result<ExitCode> {
    let store = ccproxy_store(config)?;
    let manual = manual || (!no_browser && !browser_available());
    let result = if manual {
        if !no_browser && !browser_available() {
            eprintln!("No browser can be opened here; using the manual login.");
        }
        manual_login(config, http, &store).await
    } else {
        login::loopback(http, &config.oauth, port, &store, |url| {
            if no_browser {
                println!("Open this URL in a browser on this machine to log in:\n\n  {url}\n");
            } else {
                eprintln!(
                    "Opening your browser to log in… If it does not open, visit:\n\n  {url}\n"
                );
                if let Err(e) = open::that_detached(url) {
                    eprintln!("(could not open a browser: {e})");
                }
            }
            eprintln!(
                "Waiting for the approval (up to {} s)…",
                config.oauth.login_timeout_secs
            );
            let _ = std::io::stderr().flush();
        })
        .await
    };
    match result {
        Ok(login) => {
            println!("Logged in as {}", login.who());
            println!("Credentials saved to {}", store.describe());
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("error: {e}");
            Ok(ExitCode::from(1))
        }
    }
}

async fn manual_login(
    config: &Config,
    http: &reqwest::Client,
    store: &Store,
) -> Result<Login, login::LoginError> {
    let pending = login::begin(&config.oauth, &config.oauth.manual_redirect_uri)?;
    println!(
        "Open this URL in any browser, approve, and paste the code it shows:\n\n  {}\n",
        pending.authorize_url
    );
    print!("Code: ");
    let _ = std::io::stdout().flush();
    let read = tokio::task::spawn_blocking(|| {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line).map(|_| line)
    });
    let secs = config.oauth.login_timeout_secs;
    let line = match tokio::time::timeout(Duration::from_secs(secs), read).await {
        Ok(Ok(Ok(line))) if !line.trim().is_empty() => line,
        Ok(Ok(Ok(_))) => {
            return Err(login::LoginError::CodeRejected(
                "no code was entered".into(),
            ))
        }
        Ok(Ok(Err(e))) => return Err(login::LoginError::Other(format!("reading the code: {e}"))),
        Ok(Err(e)) => return Err(login::LoginError::Other(e.to_string())),
        Err(_) => return Err(login::LoginError::TimedOut(secs)),
    };
    let (code, state) = login::parse_pasted(&line);
    let login = login::finish(http, &config.oauth, &pending, &code, state.as_deref()).await?;
    login::save(store, &login)?;
    Ok(login)
}

/// `2026-11-26T14:32:00Z (in 7h 59m)` / `(5m ago)`.
fn when(expires_at: u64) -> String {
    let at = humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_millis(expires_at));
    let now = ccproxy_core::clock::unix_ms();
    let (delta, future) = if expires_at >= now {
        (expires_at - now, true)
    } else {
        (now - expires_at, false)
    };
    let mins = delta / 60_000;
    let span = if mins >= 60 {
        format!("{}h {}m", mins / 60, mins % 60)
    } else {
        format!("{mins}m")
    };
    if future {
        format!("{at} (in {span})")
    } else {
        format!("{at} ({span} ago)")
    }
}

fn source_name(token: &Token) -> String {
    let kind = match token.kind {
        SourceKind::Ccproxy => "ccproxy",
        SourceKind::ClaudeCode => "Claude Code",
        SourceKind::Environment => "CLAUDE_CODE_OAUTH_TOKEN",
    };
    match &token.store {
        Some(store) => format!("{} ({kind})", store.describe()),
        None => kind.to_string(),
    }
}

fn who(token: &Token) -> String {
    let email = token.account.email.as_deref().unwrap_or("account unknown");
    match &token.subscription_type {
        Some(sub) => format!("{email} ({sub})"),
        None => email.to_string(),
    }
}

fn validate(config: &Arc<Config>, http: &reqwest::Client) -> anyhow::Result<ExitCode> {
    let credentials = Credentials::new(config.clone(), http.clone());
    for problem in credentials.problems() {
        eprintln!("warning: unreadable credentials file {problem}");
    }
    let token = match credentials.current() {
        Ok(t) => t,
        Err(e) => {
            println!("not logged in: {e}");
            return Ok(ExitCode::from(1));
        }
    };
    match token.expires_at {
        Some(at) if at <= ccproxy_core::clock::unix_ms() => {
            let fix = if token.refresh_is_stored() {
                "`ccproxy auth refresh` renews it (the server also does on the next request)"
            } else {
                "log in again with `ccproxy auth login`"
            };
            println!("expired since {} — {fix}", when(at));
            Ok(ExitCode::from(1))
        }
        Some(at) => {
            println!(
                "valid until {} — {}, from {}",
                when(at),
                who(&token),
                source_name(&token)
            );
            Ok(ExitCode::SUCCESS)
        }
        None => {
            println!("valid (no expiry known) — from {}", source_name(&token));
            Ok(ExitCode::SUCCESS)
        }
    }
}

async fn info(config: &Arc<Config>, http: &reqwest::Client) -> anyhow::Result<ExitCode> {
    let credentials = Credentials::new(config.clone(), http.clone());
    let token = match credentials.token().await {
        Ok(t) => t,
        Err(e) => {
            println!("Not usable: {e}");
            for problem in credentials.problems() {
                println!("Unreadable:    {problem}");
            }
            return Ok(ExitCode::from(1));
        }
    };
    println!(
        "Account:       {}",
        token.account.email.as_deref().unwrap_or("unknown")
    );
    println!(
        "Subscription:  {}",
        token.subscription_type.as_deref().unwrap_or("unknown")
    );
    println!(
        "Scopes:        {}",
        if token.scopes.is_empty() {
            "unknown".to_string()
        } else {
            token.scopes.join(" ")
        }
    );
    println!(
        "Expires:       {}",
        token
            .expires_at
            .map(when)
            .unwrap_or_else(|| "unknown".into())
    );
    println!(
        "Refreshable:   {}",
        if token.refresh_is_stored() {
            "yes"
        } else {
            "no"
        }
    );
    println!("In use:        {}", source_name(&token));
    for (kind, store) in credentials.sources() {
        let holds_one = store.read().ok().flatten().is_some();
        if Some(store) != token.store.as_ref() && holds_one {
            let name = match kind {
                SourceKind::ClaudeCode => "Claude Code",
                _ => "ccproxy",
            };
            println!(
                "Also found:    {} ({name}; expires earlier, not used)",
                store.describe()
            );
        }
    }
    for problem in credentials.problems() {
        println!("Unreadable:    {problem}");
    }
    Ok(ExitCode::SUCCESS)
}

async fn refresh(config: &Arc<Config>, http: &reqwest::Client) -> anyhow::Result<ExitCode> {
    let credentials = Credentials::new(config.clone(), http.clone());
    match credentials.force_refresh().await {
        Ok(token) => {
            println!(
                "Refreshed: valid until {} — {}",
                token
                    .expires_at
                    .map(when)
                    .unwrap_or_else(|| "unknown".into()),
                source_name(&token)
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("error: {e}");
            Ok(ExitCode::from(1))
        }
    }
}

async fn logout(config: &Arc<Config>, http: &reqwest::Client) -> anyhow::Result<ExitCode> {
    let store = ccproxy_store(config)?;
    let report = match login::logout(http, &config.oauth, &store).await {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(ExitCode::from(1));
        }
    };
    match &report.removed {
        Some(removed) => {
            println!("Logged out: removed {removed}");
            match &report.revoke_error {
                None if report.revoked => println!("The tokens were revoked."),
                Some(e) => println!(
                    "Could not revoke the tokens at the server ({e}); they expire on their own."
                ),
                None => {}
            }
        }
        None => println!(
            "Not logged in with ccproxy ({} holds no login).",
            store.describe()
        ),
    }
    let credentials = Credentials::new(config.clone(), http.clone());
    if let Ok(token) = credentials.current() {
        println!(
            "Still available: {} — Claude Code's own login is left alone (use `claude /logout` to end it).",
            source_name(&token)
        );
    }
    Ok(ExitCode::SUCCESS)
}
