//! The command line: one module per subcommand.

use clap::{Parser, Subcommand};

mod check_config;
mod decrypt;
mod dev;
mod migrate;
mod serve;
mod session_key;
mod simulate;
mod user;

/// wxlogin: the login server for WeChat mini-programs.
#[derive(Debug, Parser)]
#[command(name = "wxlogin", version, about, long_about = None)]
pub(crate) struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the login server.
    Serve(serve::ServeArgs),
    /// Run the login server and a WeChat simulator in one process, for local development.
    Dev(dev::DevArgs),
    /// Validate the configuration and print a summary (no secrets).
    CheckConfig(check_config::CheckConfigArgs),
    /// Apply pending store migrations (PostgreSQL, MySQL; SQLite migrates itself) and exit.
    Migrate(migrate::MigrateArgs),
    /// Operator actions on one user: revoke their sessions, or delete them.
    User(user::UserArgs),
    /// Operator actions on a user's session_key.
    SessionKey(session_key::SessionKeyArgs),
    /// Decrypt one encryptedData payload (key from a file or the stored ring, never argv).
    Decrypt(decrypt::DecryptArgs),
    /// Run a faithful stand-in for api.weixin.qq.com, for offline development and tests.
    Simulate(simulate::SimulateArgs),
}

pub(crate) async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve(args) => serve::run(args).await,
        Command::Dev(args) => dev::run(args).await,
        Command::CheckConfig(args) => check_config::run(args).await,
        Command::Migrate(args) => migrate::run(args).await,
        Command::User(args) => user::run(args).await,
        Command::SessionKey(args) => session_key::run(args).await,
        Command::Decrypt(args) => decrypt::run(args).await,
        Command::Simulate(args) => simulate::run(args).await,
    }
}
