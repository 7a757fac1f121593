//! `wxlogin check-config`: validate a configuration without starting anything.

use std::path::PathBuf;

use crate::setup;

#[derive(Debug, clap::Args)]
pub(crate) struct CheckConfigArgs {
    /// TOML configuration file; `WXLOGIN_*` variables override it.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
}

pub(crate) async fn run(args: CheckConfigArgs) -> anyhow::Result<()> {
    let config = setup::load_config(args.config.as_deref())?;
    setup::prepare(&config)?;
    // Names only: never a secret.
    println!("configuration OK");
    println!("  listen:     {}", config.listen);
    println!("  wechat:     {}", config.wechat.api_base);
    println!(
        "  apps:       {}",
        config
            .apps
            .iter()
            .map(|a| a.appid.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!("  store:      {}", setup::describe_store(&config));
    println!(
        "  at-rest:    {}",
        if config.at_rest_keys.is_some() {
            "configured keys"
        } else {
            "generated key in data_dir (embedded store only)"
        }
    );
    Ok(())
}
