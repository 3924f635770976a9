//! The server inside the app: started, stopped and restarted through `ccproxy-core`'s handle,
//! with the same configuration sources as `ccproxy serve` (the user's config file and
//! environment), so the web UI's Settings page works the same in both.

use ccproxy_core::config::{ConfigSources, LoadedConfig};
use ccproxy_core::server::{self, ServerHandle};
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::sync::Mutex;

/// What the tray and the commands show about the server.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(tag = "state", rename_all = "lowercase")]
pub enum Status {
    Running { addr: SocketAddr },
    Stopped,
    Error { message: String },
}

/// The running server, if any.
#[derive(Default)]
pub struct Host {
    handle: Mutex<Option<ServerHandle>>,
    last_error: std::sync::Mutex<Option<String>>,
    /// Bumped on every start and stop, so a restart watcher of an old server gives up.
    generation: std::sync::atomic::AtomicU64,
}

impl Host {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Loads the configuration and starts the server (no-op when it runs).
    pub async fn start(self: &Arc<Self>) -> Status {
        let mut slot = self.handle.lock().await;
        if let Some(h) = slot.as_ref() {
            return Status::Running {
                addr: h.local_addr(),
            };
        }
        // Like `ccproxy serve`, but `.env` and `ccproxy.toml` are looked for in the config
        // folder, not in whatever directory the desktop launched the app from.
        let sources = ConfigSources {
            dir: ccproxy_core::config::config_dir(),
            ..ConfigSources::default()
        };
        let loaded = match LoadedConfig::load(&sources) {
            Ok(l) => l,
            Err(e) => return self.fail(format!("configuration: {e}")),
        };
        let settings = loaded.settings_host();
        match server::start_with(Arc::new(loaded.config), settings).await {
            Ok(handle) => {
                let addr = handle.local_addr();
                tracing::info!("server listening on http://{addr}");
                *slot = Some(handle);
                *self.last_error.lock().unwrap_or_else(|e| e.into_inner()) = None;
                let generation = self
                    .generation
                    .fetch_add(1, std::sync::atomic::Ordering::SeqCst)
                    + 1;
                self.watch_restart(generation);
                Status::Running { addr }
            }
            Err(e) => self.fail(e.to_string()),
        }
    }

    fn fail(&self, message: String) -> Status {
        tracing::error!("server: {message}");
        *self.last_error.lock().unwrap_or_else(|e| e.into_inner()) = Some(message.clone());
        Status::Error { message }
    }

    /// Restarts the server when its settings change from the web UI.
    fn watch_restart(self: &Arc<Self>, generation: u64) {
        let host = self.clone();
        tauri::async_runtime::spawn(async move {
            let state = {
                let slot = host.handle.lock().await;
                let Some(h) = slot.as_ref() else { return };
                h.state().clone()
            };
            let mut stopping = state.stopping.clone();
            tokio::select! {
                _ = state.settings.restart.notified() => {}
                // Stopped some other way: nothing to watch any more.
                _ = stopping.wait_for(|s| *s) => return,
            }
            drop(state);
            if host.generation.load(std::sync::atomic::Ordering::SeqCst) != generation {
                return;
            }
            tracing::info!("settings changed: restarting the server");
            host.stop().await;
            host.start().await;
        });
    }

    /// Stops the server gracefully (no-op when stopped).
    pub async fn stop(&self) -> Status {
        let handle = self.handle.lock().await.take();
        self.generation
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        if let Some(h) = handle {
            if let Err(e) = h.shutdown().await {
                tracing::warn!("server shutdown: {e}");
            }
        }
        Status::Stopped
    }

    pub async fn status(&self) -> Status {
        if let Some(h) = self.handle.lock().await.as_ref() {
            return Status::Running {
                addr: h.local_addr(),
            };
        }
        match self
            .last_error
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
        {
            Some(message) => Status::Error { message },
            None => Status::Stopped,
        }
    }

    /// Runs `f` on the running server's state.
    pub async fn with_state<T>(
        &self,
        f: impl FnOnce(&Arc<ccproxy_core::state::AppState>) -> T,
    ) -> Option<T> {
        self.handle.lock().await.as_ref().map(|h| f(h.state()))
    }
}
