//! Seeds a wxlogin embedded store (SQLite) with N sessions the way the server would create
//! them, and writes their tokens for the load tool.
//!
//! Usage: `wxlogin-bench-seed DATA_DIR COUNT TOKENS.tsv [APPID]`
//!
//! Every session goes through `SqliteStore::record_login` (one transaction each, the same code
//! path as a real login), with a token from `IssuedToken::mint()` and a session_key sealed by
//! `AtRestKeys::load_or_generate(DATA_DIR)`, so `wxlogin serve` with `data_dir = DATA_DIR`
//! starts on it and verifies every token. One distinct user per session; half the users have
//! a unionid. Times follow the server's defaults: idle 7 days, absolute 30 days.
//!
//! TOKENS.tsv, one line per session, in the shape `GET /v1/session` answers:
//! `token \t user_id \t session_id \t appid \t openid \t unionid(or empty) \t issued_at \t expires_at`.

use std::io::Write as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use rand::RngCore as _;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use wxlogin_domain::IssuedToken;
use wxlogin_store::at_rest::{AtRestKeys, session_key_aad};
use wxlogin_store::{
    KeyFingerprint, LoginPolicy, LoginStore as _, NewLogin, NewSession, NewSessionKey,
    SqliteStore, new_id,
};

const IDLE: Duration = Duration::from_secs(7 * 24 * 3600);
const ABSOLUTE: Duration = Duration::from_secs(30 * 24 * 3600);
/// Concurrent `record_login` calls: the store has one writer connection, so this only keeps
/// it busy while other tasks mint, seal and format.
const WORKERS: u64 = 8;
/// Sessions created through `record_login` itself (the server's code path, one transaction
/// each: about 1-2 thousand a second here, so 1M would take over ten minutes). The rest are
/// bulk-inserted with the very rows `record_login` writes for a new user (users, session_keys,
/// sessions), in large transactions.
const VIA_STORE: u64 = 5_000;
/// Rows per bulk transaction.
const BATCH: u64 = 50_000;

fn rfc3339(at: OffsetDateTime) -> String {
    at.replace_nanosecond(0).unwrap_or(at).format(&Rfc3339).unwrap()
}

/// Millisecond precision, like the store keeps.
fn now_ms() -> OffsetDateTime {
    let now = OffsetDateTime::now_utc();
    now.replace_nanosecond(now.nanosecond() / 1_000_000 * 1_000_000).unwrap()
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let usage = "usage: wxlogin-bench-seed DATA_DIR COUNT TOKENS.tsv [APPID]";
    let data_dir = PathBuf::from(args.next().ok_or(usage)?);
    let count: u64 = args.next().ok_or(usage)?.parse()?;
    let via_store = count.min(VIA_STORE);
    let tokens_path = PathBuf::from(args.next().ok_or(usage)?);
    let appid = args.next().unwrap_or_else(|| "wx1234567890abcdef".to_owned());

    std::fs::create_dir_all(&data_dir)?;
    let keys = Arc::new(AtRestKeys::load_or_generate(&data_dir)?);
    let url = format!("sqlite://{}", data_dir.join("wxlogin.db").display());
    let store = SqliteStore::open(&url).await?;
    let out = Arc::new(std::sync::Mutex::new(std::io::BufWriter::with_capacity(
        1 << 20,
        std::fs::File::create(&tokens_path)?,
    )));
    let next = Arc::new(AtomicU64::new(0));
    let started = Instant::now();

    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..WORKERS {
        let (store, keys, out, next, appid) =
            (store.clone(), keys.clone(), out.clone(), next.clone(), appid.clone());
        workers.spawn(async move {
            let mut lines = String::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= via_store {
                    break;
                }
                // WeChat openids are 28 characters; ours are derived from the index.
                let openid = format!("oBench{:022}", i);
                let unionid = (i % 2 == 0).then(|| format!("uBench{:022}", i));
                let mut raw_key = [0u8; 16];
                rand::rng().fill_bytes(&mut raw_key);
                let key_text = STANDARD.encode(raw_key);
                let sealed = keys
                    .seal(key_text.as_bytes(), &session_key_aad(&appid, &openid))
                    .expect("seal");
                let token = IssuedToken::mint();
                let now = now_ms();
                let session_id = new_id(now);
                let absolute = now + ABSOLUTE;
                let idle = (now + IDLE).min(absolute);
                let recorded = store
                    .record_login(
                        NewLogin {
                            appid: appid.clone(),
                            openid: openid.clone(),
                            unionid: unionid.clone(),
                            session_key: NewSessionKey {
                                sealed,
                                fingerprint: KeyFingerprint::of(&key_text),
                            },
                            session: NewSession {
                                session_id,
                                token_hash: token.hash(),
                                family_id: None,
                                idle_expires_at: idle,
                                absolute_expires_at: absolute,
                            },
                            policy: LoginPolicy::default(),
                        },
                        now,
                    )
                    .await
                    .expect("record_login");
                use std::fmt::Write as _;
                let _ = writeln!(
                    lines,
                    "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
                    token.text(),
                    recorded.user_id,
                    session_id,
                    appid,
                    openid,
                    unionid.as_deref().unwrap_or(""),
                    rfc3339(now),
                    rfc3339(idle),
                );
                if lines.len() > 64 * 1024 {
                    out.lock().unwrap().write_all(lines.as_bytes()).expect("write tokens");
                    lines.clear();
                }
                if i > 0 && i % 100_000 == 0 {
                    eprintln!("seed: {i} sessions, {:.1?}", started.elapsed());
                }
            }
            out.lock().unwrap().write_all(lines.as_bytes()).expect("write tokens");
        });
    }
    while let Some(joined) = workers.join_next().await {
        joined?;
    }
    store.close().await;
    let store_took = started.elapsed();
    println!(
        "record_login: {via_store} sessions in {:.1} s ({:.0} sessions/s)",
        store_took.as_secs_f64(),
        via_store as f64 / store_took.as_secs_f64()
    );
    bulk(&data_dir, &keys, &appid, via_store, count, &out).await?;
    out.lock().unwrap().flush()?;
    let took = started.elapsed();
    println!(
        "seeded {count} sessions in {:.1} s ({:.0} sessions/s)",
        took.as_secs_f64(),
        count as f64 / took.as_secs_f64()
    );
    Ok(())
}

/// Inserts sessions `from..to` directly: per session, exactly the three rows `record_login`
/// writes for a new user (see `crates/wxlogin-store/src/sqlite/login.rs`).
async fn bulk(
    data_dir: &std::path::Path,
    keys: &AtRestKeys,
    appid: &str,
    from: u64,
    to: u64,
    out: &std::sync::Mutex<std::io::BufWriter<std::fs::File>>,
) -> Result<(), Box<dyn std::error::Error>> {
    use sqlx::Connection as _;
    use std::fmt::Write as _;
    if from >= to {
        return Ok(());
    }
    let started = Instant::now();
    let options = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(data_dir.join("wxlogin.db"))
        .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal)
        // Seeding only: the server reopens the file with its own durability settings.
        .synchronous(sqlx::sqlite::SqliteSynchronous::Off)
        .foreign_keys(true);
    let mut conn = sqlx::sqlite::SqliteConnection::connect_with(&options).await?;
    let mut i = from;
    while i < to {
        let end = (i + BATCH).min(to);
        let mut tx = conn.begin().await?;
        let mut lines = String::new();
        for i in i..end {
            let openid = format!("oBench{:022}", i);
            let unionid = (i % 2 == 0).then(|| format!("uBench{:022}", i));
            let mut raw_key = [0u8; 16];
            rand::rng().fill_bytes(&mut raw_key);
            let key_text = STANDARD.encode(raw_key);
            let sealed = keys.seal(key_text.as_bytes(), &session_key_aad(appid, &openid))?;
            let token = IssuedToken::mint();
            let now = now_ms();
            let now_millis = (now.unix_timestamp_nanos() / 1_000_000) as i64;
            let user_id = new_id(now);
            let session_id = new_id(now);
            let absolute = now + ABSOLUTE;
            let idle = (now + IDLE).min(absolute);
            let ms = |t: OffsetDateTime| (t.unix_timestamp_nanos() / 1_000_000) as i64;
            let user_text = user_id.hyphenated().to_string();
            sqlx::query(
                "INSERT INTO users (user_id, appid, openid, unionid, created_at, last_login_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?5)",
            )
            .bind(&user_text)
            .bind(appid)
            .bind(&openid)
            .bind(unionid.as_deref())
            .bind(now_millis)
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "INSERT INTO session_keys (user_id, fingerprint, sealed, created_at, retired_at) \
                 VALUES (?1, ?2, ?3, ?4, NULL)",
            )
            .bind(&user_text)
            .bind(KeyFingerprint::of(&key_text).as_bytes().as_slice())
            .bind(sealed.as_slice())
            .bind(now_millis)
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "INSERT INTO sessions (session_id, token_hash, user_id, appid, family_id, \
                 created_at, last_seen_at, idle_expires_at, absolute_expires_at) \
                 VALUES (?1, ?2, ?3, ?4, NULL, ?5, ?5, ?6, ?7)",
            )
            .bind(session_id.hyphenated().to_string())
            .bind(token.hash().as_bytes().as_slice())
            .bind(&user_text)
            .bind(appid)
            .bind(now_millis)
            .bind(ms(idle))
            .bind(ms(absolute))
            .execute(&mut *tx)
            .await?;
            let _ = writeln!(
                lines,
                "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
                token.text(),
                user_id,
                session_id,
                appid,
                openid,
                unionid.as_deref().unwrap_or(""),
                rfc3339(now),
                rfc3339(idle),
            );
        }
        tx.commit().await?;
        out.lock().unwrap().write_all(lines.as_bytes())?;
        i = end;
        eprintln!("seed: {i} sessions, {:.1?} in bulk", started.elapsed());
    }
    sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)").execute(&mut conn).await?;
    conn.close().await?;
    let took = started.elapsed();
    println!(
        "bulk: {} sessions in {:.1} s ({:.0} sessions/s)",
        to - from,
        took.as_secs_f64(),
        (to - from) as f64 / took.as_secs_f64()
    );
    Ok(())
}
