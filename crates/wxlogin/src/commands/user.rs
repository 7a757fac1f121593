//! `wxlogin user …`: operator actions on one user.
//!
//! These run in their own process and write to the store. A running server notices through
//! the store's revocation epoch, which it polls every `sessions.revocation_poll` (1 s by
//! default); the command waits out two poll periods before it returns, so when it says "done",
//! no server still accepts the user's tokens from its cache.

use std::path::PathBuf;

use wxlogin_domain::AdminError;

use crate::setup;

#[derive(Debug, clap::Args)]
pub(crate) struct UserArgs {
    #[command(subcommand)]
    action: UserAction,
}

#[derive(Debug, clap::Subcommand)]
enum UserAction {
    /// End every session of a user (they must log in again).
    Revoke(UserTarget),
    /// Delete a user with their sessions and keys (personal-data deletion).
    Delete(UserTarget),
}

#[derive(Debug, clap::Args)]
struct UserTarget {
    /// The user's mini-program.
    #[arg(long)]
    appid: String,
    /// The user's openid in that mini-program (case-sensitive).
    #[arg(long)]
    openid: String,
    /// TOML configuration file; `WXLOGIN_*` variables override it.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
}

pub(crate) async fn run(args: UserArgs) -> anyhow::Result<()> {
    let (target, delete) = match args.action {
        UserAction::Revoke(target) => (target, false),
        UserAction::Delete(target) => (target, true),
    };
    let config = setup::load_config(target.config.as_deref())?;
    crate::runtime::init_logging("warn");
    let built = setup::build(&config, None).await?;
    let service = built.service;
    let outcome = if delete {
        service
            .delete_user(&target.appid, &target.openid)
            .await
            .map(|()| "user deleted".to_owned())
    } else {
        service
            .revoke_user(&target.appid, &target.openid)
            .await
            .map(|n| format!("{n} session(s) revoked"))
    };
    match outcome {
        Ok(message) => {
            tokio::time::sleep(config.sessions.revocation_poll * 2).await;
            println!("{message}");
            Ok(())
        }
        Err(AdminError::NoSuchUser) => anyhow::bail!("no such user in app {}", target.appid),
        Err(error) => Err(error.into()),
    }
}
