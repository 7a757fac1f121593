//! Seeds a wxlogin store — SQLite, PostgreSQL or MySQL / MariaDB — with N sessions exactly as
//! the server records them, and writes their tokens for the load tool. One seeder for every
//! backend, so the scale-out benchmark (`bench/cluster.sh`) compares stores holding the same
//! rows.
//!
//! ```text
//! wxlogin-bench-seed-sql seed COUNT TOKENS.tsv [APPID]
//! wxlogin-bench-seed-sql reset-db NAME     # PostgreSQL / MySQL: drop NAME if present, create it
//! wxlogin-bench-seed-sql drop-db NAME
//! wxlogin-bench-seed-sql size              # bytes the database takes (tables and indexes)
//! ```
//!
//! URLs come from the environment, never from the command line: they may hold passwords, and
//! a process's arguments are visible to every user through `ps`. `BENCH_DATABASE_URL` is the
//! store (`sqlite:///DIR/wxlogin.db`, `postgres://…`, `mysql://…`); `BENCH_ADMIN_URL` is a
//! database on the same server for `reset-db` / `drop-db`, which only touch names starting
//! with `bench_`. Neither is ever printed.
//!
//! At-rest keys: for SQLite the key the server itself generates into the database file's
//! directory (`data_dir`); for a shared store the `id:base64` list in the file named by
//! `BENCH_AT_REST_KEYS_FILE`, the same file the servers get as `at_rest_keys_file`.
//!
//! What a session is: one distinct user each (openid `oBench` + 22 digits, a unionid for every
//! other user), a fresh random session_key sealed under the at-rest key and bound to the user,
//! and a token from `IssuedToken::mint()` whose SHA-256 is stored. Times follow the server's
//! defaults (idle 7 days, absolute 30 days). The first [`VIA_STORE`] sessions go through the
//! store's own `record_login` (the server's code path, one transaction each); the rest are
//! bulk-loaded as exactly the three rows `record_login` writes for a new user (see
//! `crates/wxlogin-store/src/{sqlite,postgres,mysql}/login.rs`): PostgreSQL with `COPY`, the
//! others with multi-row `INSERT`s, one transaction per batch. PostgreSQL is then vacuumed and
//! analysed, so autovacuum does not start in the middle of a measurement.
//!
//! TOKENS.tsv, one line per session, in the shape `GET /v1/session` answers:
//! `token \t user_id \t session_id \t appid \t openid \t unionid(or empty) \t issued_at \t expires_at`.
//! With `BENCH_TOKENS_EVERY=K`, only every K-th session's line (sessions 0, K, 2K, …): an
//! evenly spread sample, so 10 million sessions do not need 2.3 GB of token file.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::str::FromStr as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use rand::RngCore as _;
// The database name is checked against bench_[a-z0-9_]+ before it reaches any SQL.
use sqlx::{AssertSqlSafe, Connection as _, QueryBuilder};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use uuid::Uuid;
use wxlogin_domain::IssuedToken;
use wxlogin_store::at_rest::{AtRestKeys, session_key_aad};
use wxlogin_store::{
    KeyFingerprint, LoginPolicy, MySqlStore, NewLogin, NewSession, NewSessionKey, PoolSettings,
    PostgresStore, SqliteStore, Store, new_id,
};

type Error = Box<dyn std::error::Error + Send + Sync>;

const IDLE: Duration = Duration::from_secs(7 * 24 * 3600);
const ABSOLUTE: Duration = Duration::from_secs(30 * 24 * 3600);
/// Sessions created through `record_login` itself, by this many concurrent tasks.
const VIA_STORE: u64 = 2_000;
const WORKERS: u64 = 8;
/// Sessions per bulk transaction, and per multi-row `INSERT` statement (9 binds a row stays
/// far below SQLite's 32 766 and MySQL's 65 535 placeholders).
const BATCH: usize = 50_000;
const ROWS_PER_INSERT: usize = 1_000;

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Sqlite,
    Postgres,
    MySql,
}

impl Kind {
    fn of(url: &str) -> Result<Self, Error> {
        let scheme = url.split_once("://").map(|(s, _)| s.to_ascii_lowercase());
        match scheme.as_deref() {
            Some("sqlite") => Ok(Self::Sqlite),
            Some("postgres" | "postgresql") => Ok(Self::Postgres),
            Some("mysql" | "mariadb") => Ok(Self::MySql),
            _ => Err("unsupported URL scheme: use sqlite://, postgres:// or mysql://".into()),
        }
    }
}

fn env_url(name: &str) -> Result<String, Error> {
    std::env::var(name).map_err(|_| format!("{name} is not set").into())
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: wxlogin-bench-seed-sql (seed COUNT TOKENS.tsv [APPID] | reset-db NAME | drop-db NAME | size)";
    match args.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        ["seed", count, tokens, rest @ ..] => {
            let appid = rest.first().copied().unwrap_or("wx1234567890abcdef");
            seed(&env_url("BENCH_DATABASE_URL")?, count.parse()?, Path::new(tokens), appid).await
        }
        ["reset-db", name] => database(&env_url("BENCH_ADMIN_URL")?, name, true).await,
        ["drop-db", name] => database(&env_url("BENCH_ADMIN_URL")?, name, false).await,
        ["size"] => size(&env_url("BENCH_DATABASE_URL")?).await,
        _ => Err(usage.into()),
    }
}

/// Drops database `name` if it exists and, with `create`, creates it empty.
async fn database(admin_url: &str, name: &str, create: bool) -> Result<(), Error> {
    let valid = name.starts_with("bench_")
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if !valid {
        return Err("database names must match bench_[a-z0-9_]+".into());
    }
    match Kind::of(admin_url)? {
        Kind::Postgres => {
            let mut conn = sqlx::PgConnection::connect(admin_url).await?;
            sqlx::raw_sql(AssertSqlSafe(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")))
                .execute(&mut conn)
                .await?;
            if create {
                sqlx::raw_sql(AssertSqlSafe(format!("CREATE DATABASE {name}"))).execute(&mut conn).await?;
            }
            conn.close().await?;
        }
        Kind::MySql => {
            let mut conn = sqlx::MySqlConnection::connect(admin_url).await?;
            sqlx::raw_sql(AssertSqlSafe(format!("DROP DATABASE IF EXISTS {name}"))).execute(&mut conn).await?;
            if create {
                sqlx::raw_sql(AssertSqlSafe(format!("CREATE DATABASE {name}"))).execute(&mut conn).await?;
            }
            conn.close().await?;
        }
        Kind::Sqlite => return Err("reset-db / drop-db are for PostgreSQL and MySQL".into()),
    }
    Ok(())
}

async fn size(url: &str) -> Result<(), Error> {
    let bytes: i64 = match Kind::of(url)? {
        Kind::Postgres => {
            let mut conn = sqlx::PgConnection::connect(url).await?;
            sqlx::query_scalar("SELECT pg_database_size(current_database())")
                .fetch_one(&mut conn)
                .await?
        }
        Kind::MySql => {
            let mut conn = sqlx::MySqlConnection::connect(url).await?;
            // DECIMAL on the server: cast so the driver hands back an integer.
            sqlx::query_scalar(
                "SELECT CAST(COALESCE(SUM(data_length + index_length), 0) AS SIGNED) \
                 FROM information_schema.tables WHERE table_schema = DATABASE()",
            )
            .fetch_one(&mut conn)
            .await?
        }
        Kind::Sqlite => i64::try_from(std::fs::metadata(sqlite_path(url)?)?.len())?,
    };
    println!("{bytes}");
    Ok(())
}

/// The database file of a `sqlite://PATH[?options]` URL.
fn sqlite_path(url: &str) -> Result<PathBuf, Error> {
    let rest = url.split_once("://").map(|(_, rest)| rest).ok_or("not a URL")?;
    let path = rest.split('?').next().unwrap_or(rest);
    Ok(PathBuf::from(path))
}

/// The store, opened (and migrated) through its own constructor.
enum Opened {
    Sqlite(SqliteStore),
    Postgres(PostgresStore),
    MySql(MySqlStore),
}

impl Opened {
    async fn open(kind: Kind, url: &str) -> Result<Self, Error> {
        Ok(match kind {
            Kind::Sqlite => Self::Sqlite(SqliteStore::open(url).await?),
            Kind::Postgres => {
                let store = PostgresStore::connect(url, &PoolSettings::default()).await?;
                store.migrate().await?;
                Self::Postgres(store)
            }
            Kind::MySql => {
                let store = MySqlStore::connect(url, &PoolSettings::default()).await?;
                store.migrate().await?;
                Self::MySql(store)
            }
        })
    }

    fn store(&self) -> Arc<dyn Store> {
        match self {
            Self::Sqlite(s) => Arc::new(s.clone()),
            Self::Postgres(s) => Arc::new(s.clone()),
            Self::MySql(s) => Arc::new(s.clone()),
        }
    }

    async fn close(&self) {
        match self {
            Self::Sqlite(s) => s.close().await,
            Self::Postgres(s) => s.close().await,
            Self::MySql(s) => s.close().await,
        }
    }
}

fn load_keys(kind: Kind, url: &str) -> Result<AtRestKeys, Error> {
    if kind == Kind::Sqlite {
        let path = sqlite_path(url)?;
        let dir = path.parent().ok_or("the SQLite path has no directory")?;
        std::fs::create_dir_all(dir)?;
        return Ok(AtRestKeys::load_or_generate(dir)?);
    }
    let file = std::env::var("BENCH_AT_REST_KEYS_FILE")
        .map_err(|_| "BENCH_AT_REST_KEYS_FILE is not set (required for a shared store)")?;
    let list = std::fs::read_to_string(file)?;
    Ok(AtRestKeys::parse_list(list.trim())?)
}

/// `BENCH_TOKENS_EVERY`: which sessions' tokens are written (default every one).
fn tokens_every() -> u64 {
    static EVERY: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *EVERY.get_or_init(|| {
        std::env::var("BENCH_TOKENS_EVERY")
            .ok()
            .and_then(|v| v.parse().ok())
            .filter(|&k| k > 0)
            .unwrap_or(1)
    })
}

fn rfc3339(at: OffsetDateTime) -> String {
    at.replace_nanosecond(0).unwrap_or(at).format(&Rfc3339).unwrap_or_default()
}

/// Millisecond precision, like the store keeps.
fn now_ms() -> OffsetDateTime {
    let now = OffsetDateTime::now_utc();
    now.replace_nanosecond(now.nanosecond() / 1_000_000 * 1_000_000).unwrap_or(now)
}

fn millis(at: OffsetDateTime) -> i64 {
    (at.unix_timestamp_nanos() / 1_000_000) as i64
}

/// One session as the server would create it for a new user, before it is written.
struct Session {
    index: u64,
    user_id: Uuid,
    session_id: Uuid,
    openid: String,
    unionid: Option<String>,
    fingerprint: KeyFingerprint,
    sealed: Vec<u8>,
    token: IssuedToken,
    now: OffsetDateTime,
    idle: OffsetDateTime,
    absolute: OffsetDateTime,
}

impl Session {
    fn new(i: u64, appid: &str, keys: &AtRestKeys) -> Result<Self, Error> {
        // WeChat openids are 28 characters; ours are derived from the index.
        let openid = format!("oBench{i:022}");
        let unionid = (i % 2 == 0).then(|| format!("uBench{i:022}"));
        let mut raw_key = [0u8; 16];
        rand::rng().fill_bytes(&mut raw_key);
        let key_text = STANDARD.encode(raw_key);
        let sealed = keys.seal(key_text.as_bytes(), &session_key_aad(appid, &openid))?;
        let now = now_ms();
        let absolute = now + ABSOLUTE;
        Ok(Self {
            index: i,
            user_id: new_id(now),
            session_id: new_id(now),
            openid,
            unionid,
            fingerprint: KeyFingerprint::of(&key_text),
            sealed,
            token: IssuedToken::mint(),
            now,
            idle: (now + IDLE).min(absolute),
            absolute,
        })
    }

    /// Appends this session's TOKENS.tsv line, if it is in the sample.
    fn token_line(&self, out: &mut String, user_id: Uuid, appid: &str) {
        use std::fmt::Write as _;
        if self.index % tokens_every() != 0 {
            return;
        }
        let _ = writeln!(
            out,
            "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
            self.token.text(),
            user_id,
            self.session_id,
            appid,
            self.openid,
            self.unionid.as_deref().unwrap_or(""),
            rfc3339(self.now),
            rfc3339(self.idle),
        );
    }
}

async fn seed(url: &str, count: u64, tokens_path: &Path, appid: &str) -> Result<(), Error> {
    let kind = Kind::of(url)?;
    let keys = Arc::new(load_keys(kind, url)?);
    let opened = Opened::open(kind, url).await?;
    let out = Arc::new(std::sync::Mutex::new(std::io::BufWriter::with_capacity(
        1 << 20,
        std::fs::File::create(tokens_path)?,
    )));
    let started = Instant::now();
    let via_store = count.min(VIA_STORE);
    record_logins(opened.store(), &keys, appid, via_store, &out).await?;
    opened.close().await;
    let store_took = started.elapsed();
    println!(
        "record_login: {via_store} sessions in {:.1} s ({:.0} sessions/s)",
        store_took.as_secs_f64(),
        via_store as f64 / store_took.as_secs_f64()
    );
    bulk(kind, url, keys, appid, via_store, count, &out).await?;
    out.lock().map_err(|_| "poisoned")?.flush()?;
    let took = started.elapsed();
    println!(
        "seeded {count} sessions in {:.1} s ({:.0} sessions/s)",
        took.as_secs_f64(),
        count as f64 / took.as_secs_f64()
    );
    Ok(())
}

type Out = Arc<std::sync::Mutex<std::io::BufWriter<std::fs::File>>>;

/// Sessions `0..to` through `record_login`, as a login would create them.
async fn record_logins(
    store: Arc<dyn Store>,
    keys: &Arc<AtRestKeys>,
    appid: &str,
    to: u64,
    out: &Out,
) -> Result<(), Error> {
    let next = Arc::new(AtomicU64::new(0));
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..WORKERS {
        let (store, keys, out, next, appid) =
            (store.clone(), keys.clone(), out.clone(), next.clone(), appid.to_owned());
        workers.spawn(async move {
            let mut lines = String::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= to {
                    break;
                }
                let s = Session::new(i, &appid, &keys)?;
                let recorded = store
                    .record_login(
                        NewLogin {
                            appid: appid.clone(),
                            openid: s.openid.clone(),
                            unionid: s.unionid.clone(),
                            session_key: NewSessionKey {
                                sealed: s.sealed.clone(),
                                fingerprint: s.fingerprint,
                            },
                            session: NewSession {
                                session_id: s.session_id,
                                token_hash: s.token.hash(),
                                family_id: None,
                                idle_expires_at: s.idle,
                                absolute_expires_at: s.absolute,
                            },
                            policy: LoginPolicy::default(),
                        },
                        s.now,
                    )
                    .await?;
                s.token_line(&mut lines, recorded.user_id, &appid);
            }
            out.lock().map_err(|_| "poisoned")?.write_all(lines.as_bytes())?;
            Ok::<(), Error>(())
        });
    }
    while let Some(joined) = workers.join_next().await {
        joined??;
    }
    Ok(())
}

/// Sessions `from..to`, bulk-loaded. A generator thread mints and seals the next batch while
/// the current one is written.
async fn bulk(
    kind: Kind,
    url: &str,
    keys: Arc<AtRestKeys>,
    appid: &str,
    from: u64,
    to: u64,
    out: &Out,
) -> Result<(), Error> {
    if from >= to {
        return Ok(());
    }
    let started = Instant::now();
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Result<Vec<Session>, Error>>(2);
    let generator_appid = appid.to_owned();
    let generator = std::thread::spawn(move || {
        let mut i = from;
        while i < to {
            let end = (i + BATCH as u64).min(to);
            let batch = (i..end).map(|i| Session::new(i, &generator_appid, &keys)).collect();
            if tx.blocking_send(batch).is_err() {
                return;
            }
            i = end;
        }
    });
    let mut writer = Writer::connect(kind, url).await?;
    let mut done = from;
    while let Some(batch) = rx.recv().await {
        let batch = batch?;
        writer.write(&batch, appid).await?;
        let mut lines = String::with_capacity(batch.len() * 200);
        for s in &batch {
            s.token_line(&mut lines, s.user_id, appid);
        }
        out.lock().map_err(|_| "poisoned")?.write_all(lines.as_bytes())?;
        done += batch.len() as u64;
        if done % 1_000_000 < BATCH as u64 || done == to {
            eprintln!("seed: {done} sessions, {:.1?} in bulk", started.elapsed());
        }
    }
    generator.join().map_err(|_| "generator thread panicked")?;
    writer.finish().await?;
    let took = started.elapsed();
    println!(
        "bulk: {} sessions in {:.1} s ({:.0} sessions/s)",
        to - from,
        took.as_secs_f64(),
        (to - from) as f64 / took.as_secs_f64()
    );
    Ok(())
}

/// One connection per backend, writing batches of new users' rows.
enum Writer {
    Sqlite(sqlx::SqliteConnection),
    Postgres(sqlx::PgConnection),
    MySql(sqlx::MySqlConnection),
}

impl Writer {
    async fn connect(kind: Kind, url: &str) -> Result<Self, Error> {
        Ok(match kind {
            Kind::Sqlite => {
                let options = sqlx::sqlite::SqliteConnectOptions::from_str(url)?
                    .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal)
                    // Seeding only: the server reopens the file with its own durability settings.
                    .synchronous(sqlx::sqlite::SqliteSynchronous::Off)
                    .foreign_keys(true);
                Self::Sqlite(sqlx::SqliteConnection::connect_with(&options).await?)
            }
            Kind::Postgres => Self::Postgres(sqlx::PgConnection::connect(url).await?),
            Kind::MySql => Self::MySql(sqlx::MySqlConnection::connect(url).await?),
        })
    }

    async fn write(&mut self, batch: &[Session], appid: &str) -> Result<(), Error> {
        match self {
            Self::Postgres(conn) => copy_postgres(conn, batch, appid).await,
            Self::Sqlite(conn) => {
                let mut tx = conn.begin().await?;
                for chunk in batch.chunks(ROWS_PER_INSERT) {
                    insert_rows::<sqlx::Sqlite>(&mut tx, chunk, appid, |id| id.hyphenated().to_string())
                        .await?;
                }
                tx.commit().await?;
                Ok(())
            }
            Self::MySql(conn) => {
                let mut tx = conn.begin().await?;
                for chunk in batch.chunks(ROWS_PER_INSERT) {
                    insert_rows::<sqlx::MySql>(&mut tx, chunk, appid, |id| id.hyphenated().to_string())
                        .await?;
                }
                tx.commit().await?;
                Ok(())
            }
        }
    }

    /// Leaves the store as a running server would find it after a quiet while.
    async fn finish(self) -> Result<(), Error> {
        match self {
            Self::Sqlite(mut conn) => {
                sqlx::raw_sql("PRAGMA wal_checkpoint(TRUNCATE)").execute(&mut conn).await?;
                conn.close().await?;
            }
            Self::Postgres(mut conn) => {
                // Otherwise autovacuum's insert threshold starts a vacuum mid-measurement.
                sqlx::raw_sql("VACUUM (ANALYZE) users, session_keys, sessions")
                    .execute(&mut conn)
                    .await?;
                conn.close().await?;
            }
            Self::MySql(mut conn) => {
                sqlx::raw_sql("ANALYZE TABLE users, session_keys, sessions")
                    .execute(&mut conn)
                    .await?;
                conn.close().await?;
            }
        }
        Ok(())
    }
}

/// The rows of `record_login` for new users, SQLite and MySQL dialects (ids as hyphenated
/// lowercase text in both, as their backends bind them).
async fn insert_rows<DB>(
    conn: &mut <DB as sqlx::Database>::Connection,
    chunk: &[Session],
    appid: &str,
    id_text: fn(Uuid) -> String,
) -> Result<(), Error>
where
    DB: sqlx::Database,
    for<'c> &'c mut <DB as sqlx::Database>::Connection: sqlx::Executor<'c, Database = DB>,
    <DB as sqlx::Database>::Arguments: sqlx::IntoArguments<DB>,
    for<'a> String: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    for<'a> &'a str: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    for<'a> Option<&'a str>: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    for<'a> &'a [u8]: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    i64: for<'a> sqlx::Encode<'a, DB> + sqlx::Type<DB>,
{
    let mut users = QueryBuilder::<DB>::new(
        "INSERT INTO users (user_id, appid, openid, unionid, created_at, last_login_at) ",
    );
    users.push_values(chunk, |mut row, s| {
        row.push_bind(id_text(s.user_id))
            .push_bind(appid)
            .push_bind(s.openid.as_str())
            .push_bind(s.unionid.as_deref())
            .push_bind(millis(s.now))
            .push_bind(millis(s.now));
    });
    users.build().execute(&mut *conn).await?;

    let mut session_keys = QueryBuilder::<DB>::new(
        "INSERT INTO session_keys (user_id, fingerprint, sealed, created_at, retired_at) ",
    );
    session_keys.push_values(chunk, |mut row, s| {
        row.push_bind(id_text(s.user_id))
            .push_bind(s.fingerprint.as_bytes().as_slice())
            .push_bind(s.sealed.as_slice())
            .push_bind(millis(s.now))
            .push("NULL");
    });
    session_keys.build().execute(&mut *conn).await?;

    let mut sessions = QueryBuilder::<DB>::new(
        "INSERT INTO sessions (session_id, token_hash, user_id, appid, family_id, created_at, \
         last_seen_at, idle_expires_at, absolute_expires_at) ",
    );
    sessions.push_values(chunk, |mut row, s| {
        row.push_bind(id_text(s.session_id))
            .push_bind(s.token.hash().as_bytes().as_slice())
            .push_bind(id_text(s.user_id))
            .push_bind(appid)
            .push("NULL")
            .push_bind(millis(s.now))
            .push_bind(millis(s.now))
            .push_bind(millis(s.idle))
            .push_bind(millis(s.absolute));
    });
    sessions.build().execute(&mut *conn).await?;
    Ok(())
}

/// The same rows through `COPY … FROM STDIN` (text format), one transaction per batch.
async fn copy_postgres(
    conn: &mut sqlx::PgConnection,
    batch: &[Session],
    appid: &str,
) -> Result<(), Error> {
    use std::fmt::Write as _;
    fn hex(out: &mut String, bytes: &[u8]) {
        // bytea's hex input form, its backslash escaped for COPY's text format.
        out.push_str("\\\\x");
        for b in bytes {
            let _ = write!(out, "{b:02x}");
        }
    }
    let mut users = String::with_capacity(batch.len() * 128);
    let mut keys = String::with_capacity(batch.len() * 256);
    let mut sessions = String::with_capacity(batch.len() * 256);
    for s in batch {
        let now = millis(s.now);
        let _ = writeln!(
            users,
            "{}\t{appid}\t{}\t{}\t{now}\t{now}",
            s.user_id,
            s.openid,
            s.unionid.as_deref().unwrap_or("\\N"),
        );
        let _ = write!(keys, "{}\t", s.user_id);
        hex(&mut keys, s.fingerprint.as_bytes());
        keys.push('\t');
        hex(&mut keys, &s.sealed);
        let _ = writeln!(keys, "\t{now}\t\\N");
        let _ = write!(sessions, "{}\t", s.session_id);
        hex(&mut sessions, s.token.hash().as_bytes());
        let _ = writeln!(
            sessions,
            "\t{}\t{appid}\t\\N\t{now}\t{now}\t{}\t{}",
            s.user_id,
            millis(s.idle),
            millis(s.absolute)
        );
    }
    let mut tx = conn.begin().await?;
    for (statement, data) in [
        (
            "COPY users (user_id, appid, openid, unionid, created_at, last_login_at) FROM STDIN",
            users,
        ),
        (
            "COPY session_keys (user_id, fingerprint, sealed, created_at, retired_at) FROM STDIN",
            keys,
        ),
        (
            "COPY sessions (session_id, token_hash, user_id, appid, family_id, created_at, \
             last_seen_at, idle_expires_at, absolute_expires_at) FROM STDIN",
            sessions,
        ),
    ] {
        let mut copy = tx.copy_in_raw(statement).await?;
        copy.send(data.into_bytes()).await?;
        copy.finish().await?;
    }
    tx.commit().await?;
    Ok(())
}
