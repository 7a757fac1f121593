//! `wxlogin simulate`: run the WeChat simulator.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use wxlogin_clock::OffsetClock;
use wxlogin_simulator::{Simulator, SimulatorConfig, TlsIdentity};

use crate::runtime::{bind_and_announce, init_logging, shutdown_signal};

/// Flags override the configuration file and `WXLOGIN_*` variables.
#[derive(Debug, clap::Args)]
pub(crate) struct SimulateArgs {
    /// TOML configuration file (`[[apps]]`, `[[fixed_users]]`, rotation, lifetimes, …).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Address to listen on; port 0 picks a free port (printed as `listening on ADDR`).
    #[arg(long, value_name = "ADDR")]
    listen: Option<SocketAddr>,
    /// Seed for codes, session_keys, rids and fault probabilities (reproducible runs).
    #[arg(long, value_name = "N")]
    seed: Option<u64>,
    /// Serve HTTPS with a freshly generated certificate.
    #[arg(long)]
    tls: bool,
    /// Where to write the generated CA certificate (PEM) that clients should trust.
    #[arg(long, value_name = "PATH")]
    tls_ca_out: Option<PathBuf>,
}

pub(crate) async fn run(args: SimulateArgs) -> anyhow::Result<()> {
    let loaded = wxlogin_config::load::<SimulatorConfig>(args.config.as_deref())?;
    let mut config = loaded.config;
    if let Some(listen) = args.listen {
        config.listen = listen;
    }
    if args.seed.is_some() {
        config.seed = args.seed;
    }
    if args.tls {
        config.tls = true;
    }
    if args.tls_ca_out.is_some() {
        config.tls_ca_out = args.tls_ca_out;
    }
    init_logging(&config.log);
    for warning in &loaded.warnings {
        tracing::warn!("{warning}");
    }

    let listen = config.listen;
    let tls = if config.tls {
        let path = config.tls_ca_path();
        let (identity, ca_pem) = TlsIdentity::generate()?;
        std::fs::write(&path, ca_pem)
            .with_context(|| format!("cannot write the CA certificate to {}", path.display()))?;
        Some((identity, path))
    } else {
        None
    };
    let simulator = Simulator::new(config, Arc::new(OffsetClock::new()))?;

    let listener = bind_and_announce(listen).await?;
    let identity = match tls {
        Some((identity, path)) => {
            // Second stdout line, after `listening on`: scripts read the CA path from here.
            println!("tls ca written to {}", path.display());
            Some(identity)
        }
        None => None,
    };
    wxlogin_simulator::serve(listener, simulator, identity, shutdown_signal())
        .await
        .context("simulator stopped")
}
