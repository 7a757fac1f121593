//! The command line: one module per subcommand.

use clap::{Parser, Subcommand};

/// wxlogin: the login server for WeChat mini-programs.
#[derive(Debug, Parser)]
#[command(name = "wxlogin", version, about, long_about = None)]
pub(crate) struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a faithful stand-in for api.weixin.qq.com, for offline development and tests.
    Simulate(simulate::SimulateArgs),
}

pub(crate) async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Simulate(args) => simulate::run(args).await,
    }
}

mod simulate;
