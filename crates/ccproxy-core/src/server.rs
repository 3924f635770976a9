//! Starting and stopping the server in-process.
//!
//! [`start`] binds, spawns the accept loop (`server/connections`: the connection cap and the
//! idle time-out) and returns a [`ServerHandle`] with the bound address
//! (port 0 works) and a graceful [`ServerHandle::shutdown`]. The CLI and the desktop app both use
//! it; nothing here reads the process environment or installs signal handlers.

use crate::config::Config;
use crate::credentials::Credentials;
use crate::metrics::Metrics;
use crate::pricing::Pricing;
use crate::quota::LatestQuota;
use crate::request_log::{LogSettings, RequestLog};
use crate::state::AppState;
use crate::{cors, observe, routes, upstream};

mod connections;
use axum::Router;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Why the server did not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(
        "{addr} is already in use: choose another port with `--port <PORT>` \
         (or PORT=…, or server.port in the config file), or `--port 0` for any free port"
    )]
    AddrInUse { addr: SocketAddr },
    #[error(
        "refusing to listen on {host}, which other machines can reach, without an API token: \
         set one with `--auth-token` (make one with `ccproxy generate-token`), \
         or pass `--allow-remote-without-auth` if you really mean it"
    )]
    RemoteWithoutAuth { host: IpAddr },
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("invalid server.host `{0}`")]
    Host(String),
    #[error("claude.api_base_url `{0}` is not a URL")]
    BaseUrl(String),
    #[error(transparent)]
    Pricing(#[from] crate::pricing::PricingError),
    #[error("cannot build the upstream HTTP client: {0}")]
    Client(#[from] reqwest::Error),
}

/// The application with all middleware, for a given state: the routes behind the host and
/// admission (each sub-router's own) and CORS, all inside the observer (`observe::Observe`).
pub fn app(state: Arc<AppState>) -> observe::Observe<Router> {
    let router = routes::routes(&state)
        .layer(cors::layer(&state.config.server.cors_origins))
        .with_state(state.clone());
    let observer = state.config.observability.enabled.then_some(state);
    observe::Observe::new(observer, router)
}

/// A running server.
pub struct ServerHandle {
    addr: SocketAddr,
    metrics_addr: Option<SocketAddr>,
    metrics_task: Option<JoinHandle<std::io::Result<()>>>,
    state: Arc<AppState>,
    stop: watch::Sender<bool>,
    task: JoinHandle<std::io::Result<()>>,
    grace: Duration,
}

impl ServerHandle {
    /// The address actually bound (the real port when 0 was asked for).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Where `/metrics` is served when `observability.metrics_port` is set.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_addr
    }

    /// The shared state (credentials, config).
    pub fn state(&self) -> &Arc<AppState> {
        &self.state
    }

    /// Completes when settings were changed (`PUT /api/settings`) and the host should restart
    /// the server with the reloaded configuration.
    pub async fn restart_requested(&self) {
        self.state.settings.restart.notified().await;
    }

    /// Stops accepting, lets in-flight requests finish for up to `server.shutdown_timeout_secs`,
    /// then closes whatever is left.
    pub async fn shutdown(self) -> std::io::Result<()> {
        let _ = self.stop.send(true);
        if let Some(metrics) = self.metrics_task {
            let _ = metrics.await;
        }
        let mut task = self.task;
        let log = self.state.request_log.clone();
        let result = match tokio::time::timeout(self.grace, &mut task).await {
            Ok(joined) => joined.unwrap_or_else(|e| Err(std::io::Error::other(e))),
            Err(_) => {
                tracing::warn!(
                    "in-flight requests did not finish within {:?}; closing them",
                    self.grace
                );
                task.abort();
                let _ = task.await;
                Ok(())
            }
        };
        // No CLI process outlives the server.
        self.state.claude_code.shutdown().await;
        // Everything queued is stored before the server is reported stopped.
        let _ = tokio::task::spawn_blocking(move || log.close()).await;
        result
    }
}

/// Binds `addr`; returns the listener and the address actually bound (port 0 → a free port).
async fn bind(addr: SocketAddr) -> Result<(tokio::net::TcpListener, SocketAddr), StartError> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| match source.kind() {
            std::io::ErrorKind::AddrInUse => StartError::AddrInUse { addr },
            _ => StartError::Bind { addr, source },
        })?;
    let bound = listener
        .local_addr()
        .map_err(|source| StartError::Bind { addr, source })?;
    Ok((listener, bound))
}

/// Binds and starts serving. Returns once the socket is listening. Settings are read-only.
pub async fn start(config: Arc<Config>) -> Result<ServerHandle, StartError> {
    start_with(config, crate::settings::SettingsHost::default()).await
}

/// [`start`], with where settings changed in the web UI are written (the host restarts the
/// server when [`ServerHandle::restart_requested`] fires).
pub async fn start_with(
    config: Arc<Config>,
    settings: crate::settings::SettingsHost,
) -> Result<ServerHandle, StartError> {
    let ip = config
        .server
        .bind_ip()
        .ok_or_else(|| StartError::Host(config.server.host.clone()))?;
    // Parsed once: each request only extends its path (`upstream::call`).
    let upstream_base = reqwest::Url::parse(config.claude.base_url())
        .map_err(|_| StartError::BaseUrl(config.claude.api_base_url.clone()))?;
    if !ip.is_loopback()
        && config.security.auth_token.is_none()
        && !config.server.allow_remote_without_auth
    {
        return Err(StartError::RemoteWithoutAuth { host: ip });
    }
    let (listener, addr) = bind(SocketAddr::new(ip, config.server.port)).await?;

    // CCProxy's own folders hold the login, the request log and the CLI's workspace.
    for dir in [&config.env.config_dir, &config.env.data_dir]
        .into_iter()
        .flatten()
    {
        crate::private::restrict_and_warn(dir, "CCProxy's folder");
    }
    let http = upstream::client(&config)?;
    let pricing = Pricing::load(config.observability.pricing_file.as_deref())?;
    let known_models = config
        .claude
        .models
        .iter()
        .cloned()
        .chain(config.openai.model_aliases.keys().cloned());
    let metrics = Arc::new(Metrics::new(known_models));
    let obs = &config.observability;
    let request_log = RequestLog::start(
        LogSettings {
            path: if obs.enabled && obs.request_log {
                config.db_path()
            } else {
                None
            },
            queue_capacity: obs.queue_capacity,
            retention: Duration::from_secs(obs.retention_days.saturating_mul(86_400)),
            max_bytes: obs.max_db_mb.saturating_mul(1024 * 1024),
            store_bodies: obs.store_bodies.then_some(obs.max_stored_body_bytes),
            access_format: config.server.log_format,
        },
        Arc::new(pricing),
        metrics.clone(),
    );
    let credentials = Arc::new(Credentials::new(config.clone(), http.clone()));
    let (stop, stopped) = watch::channel(false);
    let state = Arc::new(AppState {
        config: config.clone(),
        http,
        upstream_base,
        credentials,
        started: Instant::now(),
        addr,
        aliases: config.openai.alias_pairs(),
        metrics,
        request_log,
        quota: LatestQuota::default(),
        billing: crate::billing::Guard::new(config.billing.extra_usage),
        alerts: crate::alerts::Alerts::new(config.billing.alert_thresholds.clone()),
        version_floor: Default::default(),
        stopping: stopped.clone(),
        logins: tokio::sync::Mutex::new(Vec::new()),
        claude_code: crate::claude_code::ClaudeCode::new(config.clone()),
        settings,
        responses: Arc::new(crate::response_store::ResponseStore::new(
            config.openai.stored_responses,
            Duration::from_secs(config.openai.stored_response_ttl_secs),
        )),
    });
    let limits = connections::Limits::of(&config.server);
    let (metrics_addr, metrics_task) = match config.observability.metrics_port {
        Some(port) => {
            let (listener, addr) = bind(SocketAddr::new(ip, port)).await?;
            let router = routes::metrics_only(&state).with_state(state.clone());
            let stopped = stopped.clone();
            // Owned by the ServerHandle, which stops and awaits it.
            #[allow(clippy::disallowed_methods)]
            let task = tokio::spawn(connections::serve(listener, router, limits, None, stopped));
            (Some(addr), Some(task))
        }
        None => (None, None),
    };
    let router = app(state.clone());
    // Owned by the ServerHandle, which stops and awaits it.
    #[allow(clippy::disallowed_methods)]
    let task = tokio::spawn(connections::serve(
        listener,
        router,
        limits,
        Some(state.metrics.clone()),
        stopped,
    ));
    // Where `ccproxy ui` finds the link that lets the owner change settings.
    crate::owner::publish(&config, addr);
    if !ip.is_loopback() && config.security.auth_token.is_none() {
        tracing::warn!("listening on {addr} without an API token: anyone who can reach it can use your subscription");
    }
    Ok(ServerHandle {
        addr,
        metrics_addr,
        metrics_task,
        state,
        stop,
        task,
        grace: Duration::from_secs(config.server.shutdown_timeout_secs),
    })
}
