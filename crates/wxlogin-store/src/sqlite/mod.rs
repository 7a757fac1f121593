//! The embedded store: one SQLite file in WAL mode, the default for a single instance.
//!
//! # Connections
//! SQLite allows one writer at a time per database file. We make that explicit with a **write
//! pool of exactly one connection**: writers queue fairly inside the pool (bounded by its
//! acquire timeout, reported as [`StoreError::Unavailable`]) instead of racing for the file
//! lock inside SQLite, where the loser sleeps-and-polls in the busy handler and a
//! read-then-write transaction can fail outright. Write transactions start with
//! `BEGIN IMMEDIATE`, so the lock is taken up front, before any read inside them, and another
//! process writing the same file (an operator command) is waited for via `busy_timeout`.
//!
//! Reads go through a separate **read pool of a few connections**: in WAL mode readers never
//! block the writer or each other, so token verification (the hot path) keeps running while a
//! login commits. Each read connection is `query_only`. A read that starts after a write
//! committed sees it, which is what makes logout immediate.
//!
//! `sqlite::memory:` cannot use WAL and every connection would see its own empty database, so
//! there both pools are the same single connection, kept open for the life of the store.
//!
//! # Durability
//! `synchronous = NORMAL` under WAL: a committed transaction survives a crash of the process
//! (SIGKILL included); only a power loss can drop the last few commits.
//!
//! The SQL here is SQLite's; the portable shape of each statement (and what PostgreSQL and
//! MySQL need instead) is noted where the dialects differ.

mod login;
mod purge;
mod rotation;
mod sessions;
mod tokens;
mod users;

use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{Sqlite, Transaction};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::error::StoreError;
use crate::model::{PurgeLimits, PurgeReport};
use crate::traits::MaintenanceStore;

/// Embedded migrations, applied at every open (a no-op when already applied).
static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");

/// How long a statement waits for another process's write lock before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a caller waits for a pooled connection before the store counts as unavailable.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);
/// Read connections: enough to overlap reads on two cores with a commit in progress; each
/// sqlx SQLite connection is a worker thread, so more only costs memory and context switches.
const READ_CONNECTIONS: u32 = 4;

/// Page cache per read connection, in KiB (SQLite's negative `cache_size`).
const READ_CACHE_KIB: &str = "-32768";
/// How much of the file each read connection maps into memory.
const READ_MMAP_BYTES: &str = "1073741824";

/// The SQLite backend. Cloning shares the pools.
#[derive(Clone)]
pub struct SqliteStore {
    writer: SqlitePool,
    reader: SqlitePool,
    in_memory: bool,
    /// Where the purge's sweep for leftover orphaned rings goes on (see `purge`).
    sweep: Arc<purge::SweepCursor>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("in_memory", &self.in_memory)
            .field("readers", &self.reader.size())
            .finish_non_exhaustive()
    }
}

impl SqliteStore {
    /// Opens (creating if missing) and migrates a database.
    ///
    /// Accepts a URL (`sqlite://data/wxlogin.db`, `sqlite:///abs/path.db`, `sqlite::memory:`,
    /// with SQLite URI parameters) or a plain file path. The parent directory must exist.
    pub async fn open(url_or_path: &str) -> Result<Self, StoreError> {
        let (options, in_memory) = parse_location(url_or_path)?;
        Self::open_with(options, in_memory).await
    }

    /// Opens (creating if missing) and migrates the database file at `path`.
    pub async fn open_path(path: &Path) -> Result<Self, StoreError> {
        Self::open_with(SqliteConnectOptions::new().filename(path), false).await
    }

    async fn open_with(options: SqliteConnectOptions, in_memory: bool) -> Result<Self, StoreError> {
        let options = options
            .create_if_missing(true)
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT);

        if in_memory {
            let pool = single_connection_pool(options).await?;
            migrate(&pool).await?;
            return Ok(Self {
                writer: pool.clone(),
                reader: pool,
                in_memory,
                sweep: Arc::default(),
            });
        }

        let writer = single_connection_pool(
            options
                .clone()
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal),
        )
        .await?;
        migrate(&writer).await?;

        // Opened after the writer switched the file to WAL, so readers find it in WAL mode.
        let reader = SqlitePoolOptions::new()
            .max_connections(READ_CONNECTIONS)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(
                options
                    .create_if_missing(false)
                    .pragma("query_only", "ON")
                    // Token lookups are random reads over the whole sessions index: a bigger
                    // page cache than SQLite's 2 MB default, and reads through mmap instead
                    // of a pread per page, make cache misses on the hot path much cheaper.
                    .pragma("cache_size", READ_CACHE_KIB)
                    .pragma("mmap_size", READ_MMAP_BYTES),
            )
            .await?;

        Ok(Self {
            writer,
            reader,
            in_memory,
            sweep: Arc::default(),
        })
    }

    /// Closes both pools, waiting for connections in use to be returned. After this every
    /// method fails with [`StoreError::Unavailable`].
    pub async fn close(&self) {
        self.writer.close().await;
        self.reader.close().await;
    }

    /// Starts a write transaction holding the database's write lock from the first statement.
    async fn begin_write(&self) -> Result<Transaction<'static, Sqlite>, StoreError> {
        Ok(self.writer.begin_with("BEGIN IMMEDIATE").await?)
    }
}

async fn single_connection_pool(options: SqliteConnectOptions) -> Result<SqlitePool, StoreError> {
    // Never recycle the connection: for `:memory:` it *is* the database.
    Ok(SqlitePoolOptions::new()
        .max_connections(1)
        .min_connections(1)
        .idle_timeout(None)
        .max_lifetime(None)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .connect_with(options)
        .await?)
}

async fn migrate(pool: &SqlitePool) -> Result<(), StoreError> {
    MIGRATOR
        .run(pool)
        .await
        .map_err(|err| StoreError::Internal(Box::new(err)))
}

/// Parses a URL or path; the flag says whether the database lives in memory.
fn parse_location(url_or_path: &str) -> Result<(SqliteConnectOptions, bool), StoreError> {
    if !url_or_path.starts_with("sqlite:") {
        if url_or_path.is_empty() {
            return Err(StoreError::Config("empty SQLite path"));
        }
        let in_memory = url_or_path == ":memory:";
        let options = if in_memory {
            SqliteConnectOptions::from_str("sqlite::memory:")
        } else {
            Ok(SqliteConnectOptions::new().filename(url_or_path))
        };
        return Ok((
            options.map_err(|_| StoreError::Config("invalid SQLite path"))?,
            in_memory,
        ));
    }
    let in_memory = url_or_path == "sqlite::memory:"
        || url_or_path.starts_with("sqlite://:memory:")
        || url_or_path.contains("mode=memory");
    let options = SqliteConnectOptions::from_str(url_or_path)
        .map_err(|_| StoreError::Config("invalid SQLite URL"))?;
    Ok((options, in_memory))
}

/// Bumps the revocation epoch inside a write transaction.
async fn bump_epoch(tx: &mut Transaction<'static, Sqlite>) -> Result<(), StoreError> {
    sqlx::query("UPDATE revocation_epoch SET epoch = epoch + 1 WHERE id = 1")
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// What happens to a user's ring and phone when they hold no session live at `now_ms` (their
/// last one just ended, or expired): the current session_key is retired at `now_ms`, so it
/// stays usable as a previous key for the key window (a client replaying encryptedData after
/// its re-login still decrypts it), and the stored phone number goes at once. Keys retired
/// earlier keep their own retirement time; the purge removes each once its window is over.
/// Returns whether anything changed.
async fn retire_ring_unless_live(
    tx: &mut Transaction<'static, Sqlite>,
    user_id: &str,
    now_ms: i64,
) -> Result<bool, StoreError> {
    let mut changed = 0;
    for sql in [
        "UPDATE session_keys SET retired_at = ?2 WHERE user_id = ?1 AND retired_at IS NULL \
         AND NOT EXISTS (SELECT 1 FROM sessions WHERE user_id = ?1 AND idle_expires_at > ?2)",
        "DELETE FROM user_phones WHERE user_id = ?1 AND NOT EXISTS \
         (SELECT 1 FROM sessions WHERE user_id = ?1 AND idle_expires_at > ?2)",
    ] {
        changed += sqlx::query(sql)
            .bind(user_id)
            .bind(now_ms)
            .execute(&mut **tx)
            .await?
            .rows_affected();
    }
    Ok(changed > 0)
}

#[async_trait]
impl MaintenanceStore for SqliteStore {
    async fn purge(
        &self,
        now: OffsetDateTime,
        limits: PurgeLimits,
    ) -> Result<PurgeReport, StoreError> {
        purge::run(self, now, limits).await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.reader).await?;
        Ok(())
    }
}

// ---- value conversions shared by the submodules -------------------------------------------

/// Unix milliseconds, the unit of every time column.
fn millis(t: OffsetDateTime) -> i64 {
    i64::try_from(t.unix_timestamp_nanos().div_euclid(1_000_000)).unwrap_or(i64::MAX)
}

fn from_millis(ms: i64) -> Result<OffsetDateTime, StoreError> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .map_err(|_| StoreError::corrupt("timestamp out of range"))
}

fn duration_millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

fn parse_id(text: &str) -> Result<Uuid, StoreError> {
    Uuid::parse_str(text).map_err(|err| StoreError::Corrupt {
        what: "uuid",
        source: Some(Box::new(err)),
    })
}

fn id_text(id: Uuid) -> String {
    id.hyphenated().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations() {
        assert!(parse_location("sqlite::memory:").unwrap().1);
        assert!(parse_location(":memory:").unwrap().1);
        assert!(!parse_location("sqlite://data/wxlogin.db").unwrap().1);
        assert!(!parse_location("/tmp/x.db").unwrap().1);
        assert!(parse_location("").is_err());
    }

    #[test]
    fn millis_round_trip() {
        let t = time::macros::datetime!(2026-03-04 05:06:07.123 UTC);
        assert_eq!(from_millis(millis(t)).unwrap(), t);
        let before_epoch = time::macros::datetime!(1969-12-31 23:59:59.999 UTC);
        assert_eq!(from_millis(millis(before_epoch)).unwrap(), before_epoch);
    }

    #[tokio::test]
    async fn reopening_a_file_keeps_data_and_migrations() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.db");
        let url = format!("sqlite://{}", path.display());
        let store = SqliteStore::open(&url).await.unwrap();
        store.ping().await.unwrap();
        store.close().await;
        assert!(path.exists());
        let again = SqliteStore::open_path(&path).await.unwrap();
        again.ping().await.unwrap();
        let mode: (String,) = sqlx::query_as("PRAGMA journal_mode")
            .fetch_one(&again.writer)
            .await
            .unwrap();
        assert_eq!(mode.0, "wal");
    }

    #[tokio::test]
    async fn readers_cannot_write() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open_path(&dir.path().join("s.db"))
            .await
            .unwrap();
        let err = sqlx::query("UPDATE revocation_epoch SET epoch = 7")
            .execute(&store.reader)
            .await;
        assert!(err.is_err());
    }

    #[tokio::test]
    async fn closed_store_is_unavailable() {
        let store = SqliteStore::open("sqlite::memory:").await.unwrap();
        store.close().await;
        assert!(store.ping().await.unwrap_err().is_unavailable());
    }
}
