//! The `wxlogin` binary. It only parses the command line and wires library crates together;
//! everything with behaviour lives in the `wxlogin-*` crates.

mod commands;
mod runtime;
mod setup;

use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = commands::Cli::parse();
    // rustls needs exactly one process-wide crypto provider; aws-lc-rs is the only one we build.
    // Installing can only fail if one is already installed, which is then fine too.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    match runtime::block_on(commands::run(cli)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
