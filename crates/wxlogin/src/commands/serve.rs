//! `wxlogin serve`: the login server.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use wxlogin_clock::OffsetClock;
use wxlogin_config::ServerConfig;

use crate::runtime::{bind_and_announce, init_logging, shutdown_signal};
use crate::setup::{self, Built};

/// How long in-flight requests may run after a shutdown signal.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

#[derive(Debug, clap::Args)]
pub(crate) struct ServeArgs {
    /// TOML configuration file; `WXLOGIN_*` variables override it.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Address to listen on (overrides `listen`); port 0 picks a free port.
    #[arg(long, value_name = "ADDR")]
    listen: Option<SocketAddr>,
    /// Let `POST /dev/clock` move the server's clock forward, for tests of expiry.
    /// Refused unless the server listens on a loopback address only.
    #[arg(long)]
    test_clock: bool,
}

pub(crate) async fn run(args: ServeArgs) -> anyhow::Result<()> {
    let mut config = setup::load_config(args.config.as_deref())?;
    if let Some(listen) = args.listen {
        config.listen = listen;
    }
    init_logging(&config.log);
    let test_clock = test_clock(args.test_clock, config.listen)?;
    let built = setup::build(&config, test_clock).await?;
    let listener = bind_and_announce(config.listen).await?;
    run_server(built, listener, &config, shutdown_signal()).await
}

/// The clock `--test-clock` asks for, if it may have it.
pub(crate) fn test_clock(
    enabled: bool,
    listen: SocketAddr,
) -> anyhow::Result<Option<Arc<OffsetClock>>> {
    if !enabled {
        return Ok(None);
    }
    if !listen.ip().is_loopback() {
        bail!(
            "--test-clock lets anyone who can reach the server expire every session; it is refused unless the server listens on a loopback address (got {listen})"
        );
    }
    Ok(Some(Arc::new(OffsetClock::new())))
}

/// Serves until `shutdown`, with the background tasks a server runs.
pub(crate) async fn run_server(
    built: Built,
    listener: tokio::net::TcpListener,
    config: &ServerConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let Built {
        service,
        open_data,
        http,
    } = built;
    let state = wxlogin_http::AppState::new(service.clone(), open_data, http);
    let mut background = tokio::task::JoinSet::new();
    {
        let service = service.clone();
        let every = config.sessions.revocation_poll;
        background.spawn(async move { service.watch_revocations(every).await });
    }
    {
        let service = service.clone();
        let (every, batch) = (config.purge.interval, config.purge.batch_size);
        background.spawn(async move { service.purge_periodically(every, batch).await });
    }
    {
        let state = state.clone();
        background.spawn(async move {
            let mut ticker = tokio::time::interval(Duration::from_secs(60));
            loop {
                ticker.tick().await;
                state.forget_expired_limits();
            }
        });
    }
    tracing::info!(apps = service.apps().len(), "wxlogin serving");
    let result = wxlogin_http::serve(listener, wxlogin_http::app(state), shutdown, SHUTDOWN_GRACE)
        .await
        .context("server stopped");
    background.abort_all();
    let (hits, misses) = service.cache_stats();
    tracing::info!(hits, misses, "session cache counters at shutdown");
    result
}
