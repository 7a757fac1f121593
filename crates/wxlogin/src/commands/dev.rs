//! `wxlogin dev`: the login server and the WeChat simulator in one process, zero setup.
//!
//! One demo app, the embedded store in a local data directory, and `--test-clock` on. Both
//! halves share one clock, so `POST /dev/clock` (or the simulator's `/sim/clock`) moves codes,
//! session_keys and sessions forward together.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use wxlogin_clock::OffsetClock;
use wxlogin_config::{AppConfig, ConfigSchema, SecretString};
use wxlogin_simulator::{DEMO_APPID, DEMO_SECRET, Simulator, SimulatorConfig};

use crate::commands::serve::{run_server, test_clock};
use crate::runtime::{bind_and_announce, init_logging, shutdown_signal};
use crate::setup;

#[derive(Debug, clap::Args)]
pub(crate) struct DevArgs {
    /// Address of the login server; must be loopback (the test clock is on).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Where the embedded store lives.
    #[arg(long, value_name = "DIR", default_value = ".wxlogin-dev")]
    data_dir: PathBuf,
}

pub(crate) async fn run(args: DevArgs) -> anyhow::Result<()> {
    let mut config = setup::load_config(None)?;
    init_logging(&config.log);
    let clock = test_clock(true, args.listen)?.unwrap_or_else(|| Arc::new(OffsetClock::new()));

    let simulator = Simulator::new(SimulatorConfig::default().finish()?, clock.clone())?;
    let sim_listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .context("cannot start the simulator")?;
    let sim_addr = sim_listener.local_addr()?;
    tokio::spawn(wxlogin_simulator::serve(
        sim_listener,
        simulator,
        None,
        std::future::pending(),
    ));

    config.listen = args.listen;
    config.data_dir = args.data_dir;
    config.apps = vec![AppConfig::new(
        DEMO_APPID,
        SecretString::from(DEMO_SECRET.to_owned()),
    )];
    config.wechat.api_base = format!("http://{sim_addr}");
    config.wechat.allow_http = true;
    let built = setup::build(&config, Some(clock)).await?;
    let listener = bind_and_announce(config.listen).await?;
    print_walkthrough(listener.local_addr()?, sim_addr, &config.data_dir);
    run_server(built, listener, &config, shutdown_signal()).await
}

fn print_walkthrough(server: SocketAddr, simulator: SocketAddr, data_dir: &std::path::Path) {
    println!(
        r#"
wxlogin dev: login server http://{server}, WeChat simulator http://{simulator}
demo app {DEMO_APPID}; store in {data}; test clock on (POST /dev/clock {{"advance_secs": N}})

Try the whole flow (copy-paste):

  # 1. What wx.login() gives the user "alice" (a one-time code):
  CODE=$(curl -s -X POST http://{simulator}/sim/login -d '{{"appid":"{DEMO_APPID}","user":"alice"}}' | sed 's/.*"code":"\([^"]*\)".*/\1/')

  # 2. The mini-program sends it to us; we exchange it with WeChat and issue our token:
  TOKEN=$(curl -s -X POST http://{server}/v1/login -H 'content-type: application/json' -d "{{\"code\":\"$CODE\"}}" | sed 's/.*"token":"\([^"]*\)".*/\1/')

  # 3. A business backend asks who holds the token:
  curl -s http://{server}/v1/session -H "authorization: Bearer $TOKEN"; echo

  # 4. Log out; the token is dead at once:
  curl -s -i -X POST http://{server}/v1/logout -H "authorization: Bearer $TOKEN" | head -1
  curl -s http://{server}/v1/session -H "authorization: Bearer $TOKEN"; echo
"#,
        data = data_dir.display()
    );
}
