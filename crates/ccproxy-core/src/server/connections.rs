//! The accept loop: every client connection, before any request is read (so before the Host or
//! token checks, wherever the server is bound), takes one of `server.max_connections` slots, gets
//! `TCP_NODELAY`, and must send a complete request head within `server.idle_timeout_secs` of
//! opening or of its previous response (hyper's header-read timer, which it restarts whenever a
//! keep-alive connection goes idle). A slow sender, a forgotten keep-alive connection or a
//! flood of sockets therefore cannot hold the server's file descriptors: at the cap new
//! connections wait in the kernel's listen queue until a slot frees, and a stalled one frees its
//! slot at the time-out. Shutdown stops accepting and lets open connections finish their
//! requests (the caller bounds how long).

use crate::metrics::Metrics;
use axum::body::Body;
use axum::extract::Request;
use axum::response::Response;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};
use tower::{Service, ServiceExt};

/// What every connection is held to.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_connections: usize,
    pub idle_timeout: Duration,
}

impl Limits {
    pub fn of(config: &crate::config::ServerConfig) -> Self {
        Self {
            max_connections: config.max_connections.max(1),
            idle_timeout: Duration::from_secs(config.idle_timeout_secs.max(1)),
        }
    }
}

/// Serves `service` on `listener` until `stopped` becomes `true`, then waits for the open
/// connections to finish. `metrics`, when given, counts the connections.
pub async fn serve<S>(
    listener: TcpListener,
    service: S,
    limits: Limits,
    metrics: Option<Arc<Metrics>>,
    mut stopped: watch::Receiver<bool>,
) -> std::io::Result<()>
where
    S: Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let graceful = GracefulShutdown::new();
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.idle_timeout);
    builder.http2().timer(TokioTimer::new());
    let mut at_cap = false;
    loop {
        let slot = match slots.clone().try_acquire_owned() {
            Ok(slot) => {
                at_cap = false;
                slot
            }
            Err(_) => {
                if let Some(m) = &metrics {
                    m.connections_waited();
                }
                if !at_cap {
                    tracing::warn!(
                        max = limits.max_connections,
                        "open connections are at server.max_connections; new ones wait"
                    );
                    at_cap = true;
                }
                tokio::select! {
                    slot = slots.clone().acquire_owned() => match slot {
                        Ok(slot) => slot,
                        Err(_) => break,
                    },
                    () = until_stopped(&mut stopped) => break,
                }
            }
        };
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = until_stopped(&mut stopped) => break,
        };
        let tcp = match accepted {
            Ok((tcp, _)) => tcp,
            Err(e) => {
                accept_failed(e).await;
                continue;
            }
        };
        // No Nagle delay: streamed events must leave as soon as they are written.
        let _ = tcp.set_nodelay(true);
        let service = TowerToHyperService::new(
            service
                .clone()
                .map_request(|request: hyper::Request<Incoming>| request.map(Body::new)),
        );
        let builder = builder.clone();
        let watcher = graceful.watcher();
        let metrics = metrics.clone();
        let mut stopping = stopped.clone();
        let idle_timeout = limits.idle_timeout;
        // Owned by the graceful-shutdown watcher this loop waits on before it returns (a task
        // still waiting for its connection's first byte holds the watcher and ends on `stopped`).
        #[allow(clippy::disallowed_methods)]
        tokio::spawn(async move {
            if let Some(m) = &metrics {
                m.connections(1);
            }
            // hyper's timer starts once it knows HTTP/1 from HTTP/2, which takes a first byte:
            // a connection that sends none is closed here.
            let mut byte = [0u8; 1];
            let first_byte = tokio::select! {
                peeked = tokio::time::timeout(idle_timeout, tcp.peek(&mut byte)) => {
                    matches!(peeked, Ok(Ok(1)))
                }
                () = until_stopped(&mut stopping) => false,
            };
            if first_byte {
                let connection = builder
                    .serve_connection(TokioIo::new(tcp), service)
                    .into_owned();
                if let Err(e) = watcher.watch(connection).await {
                    tracing::trace!("connection closed: {e}");
                }
            }
            if let Some(m) = &metrics {
                m.connections(-1);
            }
            drop(slot);
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}

async fn until_stopped(stopped: &mut watch::Receiver<bool>) {
    let _ = stopped.wait_for(|s| *s).await;
}

/// An accept that failed: a connection reset before it was accepted is nothing; running out of
/// descriptors or memory is logged, and the loop pauses so it does not spin while it lasts.
async fn accept_failed(e: std::io::Error) {
    use std::io::ErrorKind::*;
    if matches!(e.kind(), ConnectionAborted | ConnectionReset | Interrupted) {
        return;
    }
    tracing::error!("cannot accept a connection: {e}");
    tokio::time::sleep(Duration::from_millis(250)).await;
}
