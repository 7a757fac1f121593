//! `wxlogin migrate`: apply the store's pending migrations and exit.
//!
//! For deployments that switch `database.auto_migrate` off and migrate once, before rolling
//! out new instances. Safe to run while instances are up and while they start: each backend
//! takes a database lock around its migrations.

use std::path::PathBuf;

use crate::setup;

#[derive(Debug, clap::Args)]
pub(crate) struct MigrateArgs {
    /// TOML configuration file; `WXLOGIN_*` variables override it.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
}

pub(crate) async fn run(args: MigrateArgs) -> anyhow::Result<()> {
    let config = setup::load_config(args.config.as_deref())?;
    let store = setup::connect_store(&config, true).await?;
    store.ping().await?;
    println!("migrations applied: {}", setup::describe_store(&config));
    Ok(())
}
