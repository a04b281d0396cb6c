//! The HTTP listener: hyper's HTTP/1.1 connection on each accepted TCP
//! stream (with TCP_NODELAY), the axum router as its service with the peer
//! address attached (`ConnectInfo`, as axum's own server does).
//!
//! Not `axum::serve`: it wraps every connection in a protocol-sniffing
//! stream, so an upgraded connection no longer shows its TCP socket, which
//! the console gateway needs to move a target's bytes to the browser
//! without copying them (splice). HTTP/2 is not served (browsers use
//! HTTP/1.1 for WebSockets; TLS and HTTP/2 end at the reverse proxy).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tower::ServiceExt;

/// How long open connections may finish their request after shutdown.
const DRAIN: Duration = Duration::from_secs(5);

/// Serves `app` on `listener` until `shutdown` completes, then lets open
/// connections finish (at most `DRAIN`). Upgraded connections (console
/// WebSockets) are their own tasks and not waited for.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    shutdown: impl std::future::Future<Output = ()>,
) {
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let open = Arc::new(());
    tokio::pin!(shutdown);
    loop {
        let (tcp, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(c) => c,
                Err(e) => {
                    // Out of descriptors and the like: wait, do not spin.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        let _ = tcp.set_nodelay(true);
        let svc = app
            .clone()
            .map_request(move |mut req: axum::http::Request<Incoming>| {
                req.extensions_mut().insert(ConnectInfo::<SocketAddr>(peer));
                req
            });
        let mut stopped = stopped.clone();
        let guard = open.clone();
        tokio::spawn(async move {
            let conn = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(tcp), TowerToHyperService::new(svc))
                .with_upgrades();
            tokio::pin!(conn);
            tokio::select! {
                r = conn.as_mut() => {
                    if let Err(e) = r {
                        tracing::debug!(error = %e, "connection ended with an error");
                    }
                }
                _ = stopped.changed() => {
                    conn.as_mut().graceful_shutdown();
                    let _ = conn.await;
                }
            }
            drop(guard);
        });
    }
    let _ = stop.send(true);
    let deadline = tokio::time::Instant::now() + DRAIN;
    while Arc::strong_count(&open) > 1 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
