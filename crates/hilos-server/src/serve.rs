//! Running the HTTP server until a shutdown signal, then draining.

use std::future::Future;
use std::time::Duration;

use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::task::JoinSet;

/// How long connections keep being served after the shutdown signal before
/// idle ones are closed: time to read requests that arrived just before it.
const ARRIVED_REQUEST_GRACE: Duration = Duration::from_millis(250);

/// Serves `app` on `listener` until `shutdown` completes, then takes the
/// connections already waiting to be accepted, stops listening, and
/// answers the requests in flight or already sent, for at most
/// `drain_timeout`; idle keep-alive connections are closed. Request heads must arrive within the default
/// [`crate::limits::DEFAULT_HEADER_READ_TIMEOUT`].
pub async fn serve_until(
    listener: TcpListener,
    app: axum::Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
    drain_timeout: Duration,
) -> std::io::Result<()> {
    serve_with(
        listener,
        app,
        shutdown,
        drain_timeout,
        crate::limits::DEFAULT_HEADER_READ_TIMEOUT,
    )
    .await
}

/// [`serve_until`], closing connections that do not send a complete
/// request head within `header_read_timeout` (idle keep-alive connections
/// included) so slow or silent clients cannot hold the server's memory.
pub async fn serve_with(
    listener: TcpListener,
    app: axum::Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
    drain_timeout: Duration,
    header_read_timeout: Duration,
) -> std::io::Result<()> {
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(header_read_timeout);
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut connections = JoinSet::new();
    let mut shutdown = std::pin::pin!(shutdown);
    let serve = |connections: &mut JoinSet<()>, stream: tokio::net::TcpStream| {
        let _ = stream.set_nodelay(true);
        let conn =
            builder.serve_connection(TokioIo::new(stream), TowerToHyperService::new(app.clone()));
        let mut stop = stop_rx.clone();
        connections.spawn(async move {
            let mut conn = std::pin::pin!(conn);
            let result = tokio::select! {
                result = conn.as_mut() => result,
                () = async { let _ = stop.wait_for(|stopping| *stopping).await; } => {
                    // hyper's graceful shutdown closes a connection at once
                    // if no request is in progress on it, even when one has
                    // already arrived in the socket and just was not read
                    // yet. Serving on for a moment first reads such a
                    // request, which is then answered.
                    match tokio::time::timeout(ARRIVED_REQUEST_GRACE, conn.as_mut()).await {
                        Ok(result) => result,
                        Err(_) => {
                            conn.as_mut().graceful_shutdown();
                            conn.await
                        }
                    }
                }
            };
            if let Err(error) = result {
                tracing::debug!(%error, "connection ended with an error");
            }
        });
    };
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) => serve(&mut connections, stream),
                Err(error) => {
                    // Out of file descriptors and the like: wait, do not spin.
                    tracing::warn!(%error, "cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
        }
    }
    // Connections the kernel completed before the listener closes belong to
    // clients that may already have sent a request: serve them rather than
    // reset them. Closing the listener then refuses new ones.
    match listener.into_std() {
        Ok(listener) => {
            while let Ok((stream, _peer)) = listener.accept() {
                match stream
                    .set_nonblocking(true)
                    .and_then(|()| tokio::net::TcpStream::from_std(stream))
                {
                    Ok(stream) => serve(&mut connections, stream),
                    Err(error) => tracing::warn!(%error, "cannot serve a pending connection"),
                }
            }
        }
        Err(error) => tracing::warn!(%error, "cannot accept pending connections"),
    }
    tracing::info!("shutting down: finishing requests in flight");
    let _ = stop_tx.send(true);
    let drained = tokio::time::timeout(drain_timeout, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            ?drain_timeout,
            "drain timeout reached; exiting with requests in flight"
        );
    }
    Ok(())
}

/// Completes on SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::error!(%error, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::error!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
}
