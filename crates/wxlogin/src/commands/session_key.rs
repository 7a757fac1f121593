//! `wxlogin session-key reset`: rotate a user's session_key at WeChat and in our ring.

use std::path::PathBuf;

use crate::setup;

#[derive(Debug, clap::Args)]
pub(crate) struct SessionKeyArgs {
    #[command(subcommand)]
    action: SessionKeyAction,
}

#[derive(Debug, clap::Subcommand)]
enum SessionKeyAction {
    /// Call WeChat's resetusersessionkey for the user and make the new key current (the old
    /// one stays usable as a previous key for the configured window).
    Reset {
        #[arg(long)]
        appid: String,
        #[arg(long)]
        openid: String,
        /// TOML configuration file; `WXLOGIN_*` variables override it.
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
    },
}

pub(crate) async fn run(args: SessionKeyArgs) -> anyhow::Result<()> {
    let SessionKeyAction::Reset {
        appid,
        openid,
        config,
    } = args.action;
    let config = setup::load_config(config.as_deref())?;
    crate::runtime::init_logging("warn");
    let built = setup::build(&config, None).await?;
    match built.open_data.reset_session_key(&appid, &openid).await {
        Ok(()) => {
            println!("session_key reset");
            Ok(())
        }
        Err(error) => {
            let api = wxlogin_http::ApiError::from(error);
            anyhow::bail!("{} ({})", api.code().as_str(), api.code().summary())
        }
    }
}
