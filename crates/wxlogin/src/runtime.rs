//! Process plumbing shared by every long-running command: the Tokio runtime, logging, the
//! `listening on ADDR` announcement and the shutdown signal.

use std::io::{IsTerminal, Write};
use std::net::SocketAddr;

use anyhow::Context;
use tokio::net::TcpListener;

/// Runs a future to completion on a multi-threaded runtime.
pub(crate) fn block_on<F: std::future::Future>(future: F) -> F::Output {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("cannot start the Tokio runtime");
    runtime.block_on(future)
}

/// Sets up `tracing` to stderr. stdout is reserved for what scripts read (`listening on ADDR`).
pub(crate) fn init_logging(filter: &str) {
    let filter = tracing_subscriber::EnvFilter::try_new(filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
}

/// Binds `addr` and prints `listening on ADDR` as the first line of stdout.
///
/// Tests and scripts start us with port 0 and read this line to learn the real port, so it is
/// flushed at once and nothing may be printed to stdout before it.
pub(crate) async fn bind_and_announce(addr: SocketAddr) -> anyhow::Result<TcpListener> {
    let listener = TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))?;
    let bound = listener.local_addr()?;
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "listening on {bound}")?;
    stdout.flush()?;
    Ok(listener)
}

/// Resolves on Ctrl-C or SIGTERM, whichever comes first.
pub(crate) async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down");
}
