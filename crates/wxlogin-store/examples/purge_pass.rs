//! Times purge passes against an existing store, e.g. one filled by
//! `bench/seed-sql` (`wxlogin-bench-seed-sql seed 1000000 …`).
//!
//! ```text
//! PURGE_DATABASE_URL=postgres://… cargo run -p wxlogin-store --example purge_pass -- [PASSES] [DAYS]
//! ```
//!
//! Runs `PASSES` (default 3) passes of `purge(now + DAYS days, PurgeLimits::default())` one
//! after the other and prints the wall time and report of each. `DAYS` (default 0) moves the
//! purge's clock ahead: with the seeder's 7-day idle lifetime, `8` makes every session expired,
//! so a pass has a full batch of sessions and rings to remove. The store is opened with
//! [`PoolSettings::default`], the server's defaults (a 5 s statement timeout among them), and
//! migrated first (a no-op when it already is).
//!
//! The URL comes from the environment, not the command line, because it may hold a password
//! (a process's arguments are visible to every user); it is never printed.

use std::error::Error;
use std::sync::Arc;
use std::time::Instant;

use time::OffsetDateTime;
use wxlogin_store::{MySqlStore, PoolSettings, PostgresStore, PurgeLimits, SqliteStore, Store};

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let mut args = std::env::args().skip(1);
    let passes: u32 = args.next().map_or(Ok(3), |n| n.parse())?;
    let days: i64 = args.next().map_or(Ok(0), |n| n.parse())?;
    let url = std::env::var("PURGE_DATABASE_URL").map_err(|_| "PURGE_DATABASE_URL is not set")?;
    let store = open(&url).await?;

    let now = OffsetDateTime::now_utc() + time::Duration::days(days);
    for pass in 1..=passes {
        let started = Instant::now();
        let result = store.purge(now, PurgeLimits::default()).await;
        let took = started.elapsed();
        match result {
            Ok(report) => println!("pass {pass}: {took:.3?} {report:?}"),
            Err(err) => println!("pass {pass}: {took:.3?} failed: {err}"),
        }
    }
    Ok(())
}

async fn open(url: &str) -> Result<Arc<dyn Store>, Box<dyn Error>> {
    let settings = PoolSettings::default();
    let scheme = url.split_once("://").map(|(s, _)| s.to_ascii_lowercase());
    Ok(match scheme.as_deref() {
        Some("postgres" | "postgresql") => {
            let store = PostgresStore::connect(url, &settings).await?;
            store.migrate().await?;
            Arc::new(store)
        }
        Some("mysql") => {
            let store = MySqlStore::connect(url, &settings).await?;
            store.migrate().await?;
            Arc::new(store)
        }
        _ => Arc::new(SqliteStore::open(url).await?),
    })
}
