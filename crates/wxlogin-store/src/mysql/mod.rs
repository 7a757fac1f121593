//! The shared backend on MySQL 8 or MariaDB 10.11 (tested on MariaDB; only SQL both accept).
//!
//! # Connections
//! One bounded pool ([`PoolSettings`]). Every new connection gets a known session state:
//! strict `sql_mode` (an over-long value is an error, never a silent truncation, whatever the
//! server's default), `innodb_lock_wait_timeout` and a statement time limit both taken from
//! `statement_timeout`. The time limit is not portable: MariaDB has `max_statement_time`
//! (seconds, every statement), MySQL 8 `max_execution_time` (milliseconds, read-only SELECTs
//! only). We set whichever the server knows; on MySQL, writes are bounded by the lock wait
//! timeout instead, and callers by the pool's acquire timeout.
//!
//! # Concurrency
//! InnoDB's default isolation, REPEATABLE READ, is assumed: a plain `SELECT` inside a
//! transaction reads a snapshot, so every read that a write decision depends on is a locking
//! read (`FOR UPDATE`), which sees the latest committed row. Writes that touch one user's
//! sessions, key ring or phone first lock that user's row, a per-user mutex that serialises
//! them across processes the way SQLite's single writer does. The revocation epoch row is
//! always the last lock a transaction takes, so it cannot be part of a lock cycle.
//!
//! Under REPEATABLE READ a locking read also locks the gaps it scanned, and a locking read
//! of an empty range locks a gap that others may want to insert into: the classic source of
//! InnoDB deadlocks. So a user's rows are read through the index that confines the scan to
//! that user (forced, ascending), changed by primary key, and the empty ranges of a user this
//! transaction creates are not read at all (see `record_login`). What deadlocks (1213) or lock
//! wait timeouts (1205) remain, `retry` handles: it reruns the whole transaction a few times
//! with a short jittered sleep before giving up with [`StoreError::Unavailable`].
//!
//! `migrate` takes a named lock of its own: sqlx's does not work on MariaDB.
//!
//! # Row counts
//! sqlx connects with `CLIENT_FOUND_ROWS`: an `UPDATE` reports the rows its `WHERE` matched,
//! even if it changed nothing, and `INSERT … ON DUPLICATE KEY UPDATE` reports 1 both for an
//! insert and for a matched row left unchanged. So no decision here reads the row count of an
//! upsert: conditional writes are an `UPDATE … WHERE condition` (matched = done), with a plain
//! `INSERT` (duplicate key = someone else was first) when the row may not exist yet.
//! `INSERT IGNORE` is avoided: it would also turn data errors into warnings.

mod login;
mod purge;
mod rotation;
mod sessions;
mod tokens;
mod users;

use std::future::Future;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::mysql::{MySqlConnectOptions, MySqlConnection, MySqlPool, MySqlPoolOptions};
use sqlx::{MySql, Transaction};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::error::StoreError;
use crate::model::{PoolSettings, PurgeLimits, PurgeReport};
use crate::traits::MaintenanceStore;

/// Versioned migrations, applied by [`MySqlStore::migrate`].
static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("migrations/mysql");

/// How often a transaction is attempted when InnoDB aborts it for a deadlock or lock timeout.
const ATTEMPTS: u32 = 5;
/// Upper bound of the first retry's random sleep; it doubles with every further attempt.
const BACKOFF: Duration = Duration::from_millis(5);
/// How long `migrate` waits for another instance's migration before giving up.
const MIGRATION_LOCK_WAIT_SECS: i64 = 300;

/// MySQL / MariaDB server error numbers this module acts on.
const ER_DUP_ENTRY: u16 = 1062;
const ER_LOCK_WAIT_TIMEOUT: u16 = 1205;
const ER_LOCK_DEADLOCK: u16 = 1213;
const ER_UNKNOWN_SYSTEM_VARIABLE: u16 = 1193;

/// The MySQL / MariaDB backend. Cloning shares the pool.
#[derive(Clone)]
pub struct MySqlStore {
    pool: MySqlPool,
    /// Where the purge's sweep for leftover orphaned rings goes on (see `purge`).
    sweep: Arc<purge::SweepCursor>,
}

impl std::fmt::Debug for MySqlStore {
    // Never the URL: it may carry the password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MySqlStore")
            .field("connections", &self.pool.size())
            .field("idle", &self.pool.num_idle())
            .field(
                "max_connections",
                &self.pool.options().get_max_connections(),
            )
            .finish_non_exhaustive()
    }
}

impl MySqlStore {
    /// Opens the pool and checks that one connection can be made within the acquire timeout
    /// (otherwise [`StoreError::Unavailable`]). Does not migrate: see [`migrate`](Self::migrate).
    ///
    /// `url` is `mysql://user:password@host:port/database`, with sqlx's parameters (e.g.
    /// `ssl-mode=disabled`).
    pub async fn connect(url: &str, settings: &PoolSettings) -> Result<Self, StoreError> {
        let (options, connect) = pool_parts(url, settings)?;
        Ok(Self {
            pool: options.connect_with(connect).await?,
            sweep: Arc::default(),
        })
    }

    /// Builds the pool without connecting: connections are opened on first use, so a server
    /// can start while the database is still down and report it through
    /// [`ping`](MaintenanceStore::ping) until it answers.
    pub fn connect_lazy(url: &str, settings: &PoolSettings) -> Result<Self, StoreError> {
        let (options, connect) = pool_parts(url, settings)?;
        Ok(Self {
            pool: options.connect_lazy_with(connect),
            sweep: Arc::default(),
        })
    }

    /// Applies pending migrations. Safe to call from several instances at once: they queue on
    /// a named lock and all but the first find nothing to do.
    ///
    /// sqlx's own migration lock is `GET_LOCK(name, -1)`, which MariaDB refuses (NULL and a
    /// warning, lock not taken), so this takes a lock of its own, with a positive timeout. Named
    /// locks belong to a connection, so everything runs through a pool of exactly one
    /// connection, without a statement time limit (a long migration must not be cut off),
    /// closed at the end, which also frees the lock should anything below fail.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        let single = MySqlPoolOptions::new()
            .max_connections(1)
            .min_connections(0)
            .idle_timeout(None)
            .max_lifetime(None)
            .acquire_timeout(self.pool.options().get_acquire_timeout())
            .after_connect(|conn, _meta| {
                Box::pin(async move { set_statement_limit(conn, Duration::ZERO).await })
            })
            .connect_with((*self.pool.connect_options()).clone())
            .await?;
        let result = migrate_locked(&single).await;
        single.close().await;
        result
    }

    /// Closes the pool, waiting for connections in use to be returned. After this every
    /// method fails with [`StoreError::Unavailable`].
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Starts a transaction (REPEATABLE READ, the server's default).
    async fn begin(&self) -> Result<Transaction<'static, MySql>, StoreError> {
        Ok(self.pool.begin().await?)
    }
}

fn pool_parts(
    url: &str,
    settings: &PoolSettings,
) -> Result<(MySqlPoolOptions, MySqlConnectOptions), StoreError> {
    // The parse error could quote the URL, password included: keep only that it failed.
    let connect =
        MySqlConnectOptions::from_str(url).map_err(|_| StoreError::Config("invalid MySQL URL"))?;
    if connect.get_database().is_none() {
        return Err(StoreError::Config("the MySQL URL names no database"));
    }
    let statement_timeout = settings.statement_timeout;
    let options = MySqlPoolOptions::new()
        .max_connections(settings.max_connections.max(1))
        .min_connections(settings.min_connections.min(settings.max_connections))
        .acquire_timeout(settings.acquire_timeout)
        .after_connect(move |conn, _meta| {
            Box::pin(async move { init_session(conn, statement_timeout).await })
        });
    Ok((options, connect))
}

/// Puts a new connection into the session state every query here assumes.
async fn init_session(
    conn: &mut MySqlConnection,
    statement_timeout: Duration,
) -> Result<(), sqlx::Error> {
    sqlx::query("SET SESSION sql_mode = 'STRICT_ALL_TABLES,NO_ENGINE_SUBSTITUTION'")
        .execute(&mut *conn)
        .await?;
    if !statement_timeout.is_zero() {
        // Whole seconds, rounded up, within the server's range [1, 2^30].
        let secs = statement_timeout.as_secs() + u64::from(statement_timeout.subsec_nanos() > 0);
        sqlx::query("SET SESSION innodb_lock_wait_timeout = ?")
            .bind(i64::try_from(secs.min(1 << 30)).unwrap_or(1 << 30))
            .execute(&mut *conn)
            .await?;
    }
    set_statement_limit(conn, statement_timeout).await
}

/// Sets the per-statement time limit (zero: none) with whichever variable the server knows.
async fn set_statement_limit(
    conn: &mut MySqlConnection,
    limit: Duration,
) -> Result<(), sqlx::Error> {
    // MariaDB: seconds as a decimal, every statement.
    let mariadb = sqlx::query("SET SESSION max_statement_time = ?")
        .bind(limit.as_secs_f64())
        .execute(&mut *conn)
        .await;
    match mariadb {
        Err(err) if mysql_error_number(&err) == Some(ER_UNKNOWN_SYSTEM_VARIABLE) => {
            // MySQL 8: milliseconds, read-only SELECTs only.
            sqlx::query("SET SESSION max_execution_time = ?")
                .bind(i64::try_from(limit.as_millis()).unwrap_or(i64::MAX))
                .execute(&mut *conn)
                .await?;
            Ok(())
        }
        other => other.map(|_| ()),
    }
}

async fn migrate_locked(single: &MySqlPool) -> Result<(), StoreError> {
    // Lock names are limited to 64 characters on MySQL: hash the database name.
    let (locked,): (Option<i64>,) =
        sqlx::query_as("SELECT GET_LOCK(CONCAT('wxlogin-migrate-', SHA1(DATABASE())), ?)")
            .bind(MIGRATION_LOCK_WAIT_SECS)
            .fetch_one(single)
            .await?;
    if locked != Some(1) {
        return Err(StoreError::Unavailable(
            "timed out waiting for another instance's migration".into(),
        ));
    }
    let result = MIGRATOR
        .run(single)
        .await
        .map_err(|err| StoreError::Internal(Box::new(err)));
    sqlx::query("SELECT RELEASE_LOCK(CONCAT('wxlogin-migrate-', SHA1(DATABASE())))")
        .execute(single)
        .await?;
    result
}

/// Runs `attempt` (one whole transaction, or one statement) until it succeeds, fails for a
/// reason other than a deadlock or lock wait timeout, or has been tried [`ATTEMPTS`] times.
async fn retry<T, F, Fut>(mut attempt: F) -> Result<T, StoreError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, StoreError>>,
{
    let mut tried = 1;
    loop {
        match attempt().await {
            Err(err) if tried < ATTEMPTS && is_lock_conflict(&err) => {
                // Random within a doubling bound, so two victims of one deadlock do not
                // collide again in lockstep.
                let bound = BACKOFF.saturating_mul(1 << tried);
                let jitter = Uuid::new_v4().as_u128() % bound.as_micros().max(1);
                tokio::time::sleep(Duration::from_micros(
                    u64::try_from(jitter).unwrap_or(u64::MAX),
                ))
                .await;
                tried += 1;
            }
            other => return other,
        }
    }
}

/// A deadlock or lock wait timeout: the transaction was (or must be) rolled back and may
/// simply be run again.
fn is_lock_conflict(err: &StoreError) -> bool {
    let StoreError::Unavailable(source) = err else {
        return false;
    };
    source
        .downcast_ref::<sqlx::Error>()
        .and_then(mysql_error_number)
        .is_some_and(|n| n == ER_LOCK_DEADLOCK || n == ER_LOCK_WAIT_TIMEOUT)
}

/// The server's error number, for errors the server reported.
fn mysql_error_number(err: &sqlx::Error) -> Option<u16> {
    err.as_database_error()?
        .try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>()
        .map(|db| db.number())
}

/// True when `err` is a duplicate-key error.
fn is_duplicate_key(err: &sqlx::Error) -> bool {
    mysql_error_number(err) == Some(ER_DUP_ENTRY)
}

/// Locks the user's row for the rest of the transaction: the per-user mutex every write to a
/// user's sessions, ring or phone takes first. Returns whether the user exists.
async fn lock_user(
    tx: &mut Transaction<'static, MySql>,
    user_id: &str,
) -> Result<bool, StoreError> {
    Ok(
        sqlx::query("SELECT user_id FROM users WHERE user_id = ? FOR UPDATE")
            .bind(user_id)
            .fetch_optional(&mut **tx)
            .await?
            .is_some(),
    )
}

/// Bumps the revocation epoch: the last statement of a transaction that ends live sessions.
async fn bump_epoch(tx: &mut Transaction<'static, MySql>) -> Result<(), StoreError> {
    sqlx::query("UPDATE revocation_epoch SET epoch = epoch + 1 WHERE id = 1")
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Whether the user has a session live at `now_ms`, read with a lock (the latest rows, not the
/// transaction's snapshot). Call with the user's row locked.
async fn has_live_session(
    tx: &mut Transaction<'static, MySql>,
    user_id: &str,
    now_ms: i64,
) -> Result<bool, StoreError> {
    Ok(sqlx::query(
        "SELECT session_id FROM sessions FORCE INDEX (sessions_by_user) \
         WHERE user_id = ? AND idle_expires_at > ? LIMIT 1 FOR UPDATE",
    )
    .bind(user_id)
    .bind(now_ms)
    .fetch_optional(&mut **tx)
    .await?
    .is_some())
}

/// The user's sessions as (session_id, idle_expires_at), newest first, locked. Call with the
/// user's row locked.
///
/// Every locking read of a user's sessions goes through the user index, forced, and
/// ascending: on a small table the optimizer may prefer a scan or the expiry index, which then
/// locks (and deadlocks on) other users' sessions too, and a descending scan also locks the
/// neighbouring user's last entry, so two neighbours lock each other's edges in opposite order.
/// Hence no `ORDER BY` here: the few rows are sorted below. Deletes then go by primary key,
/// since a single-table `DELETE` takes no index hint.
async fn lock_user_sessions(
    tx: &mut Transaction<'static, MySql>,
    user_id: &str,
) -> Result<Vec<(String, i64)>, StoreError> {
    let mut sessions: Vec<(String, i64, i64)> = sqlx::query_as(
        "SELECT session_id, created_at, idle_expires_at \
         FROM sessions FORCE INDEX (sessions_by_user) WHERE user_id = ? FOR UPDATE",
    )
    .bind(user_id)
    .fetch_all(&mut **tx)
    .await?;
    // created_at DESC, session_id DESC.
    sessions.sort_unstable_by(|a, b| (b.1, &b.0).cmp(&(a.1, &a.0)));
    Ok(sessions
        .into_iter()
        .map(|(session_id, _, idle_expires_at)| (session_id, idle_expires_at))
        .collect())
}

/// Deletes one session by id; returns whether it existed.
async fn delete_session(
    tx: &mut Transaction<'static, MySql>,
    session_id: &str,
) -> Result<bool, StoreError> {
    Ok(sqlx::query("DELETE FROM sessions WHERE session_id = ?")
        .bind(session_id)
        .execute(&mut **tx)
        .await?
        .rows_affected()
        == 1)
}

/// Deletes every session of the user; returns how many. Call with the user's row locked.
async fn delete_user_sessions(
    tx: &mut Transaction<'static, MySql>,
    user_id: &str,
) -> Result<u64, StoreError> {
    let mut deleted = 0;
    for (session_id, _) in lock_user_sessions(tx, user_id).await? {
        deleted += u64::from(delete_session(tx, &session_id).await?);
    }
    Ok(deleted)
}

/// What happens to a user's ring and phone once they hold no live session (their last one
/// just ended, or expired): the current session_key is retired at `now_ms`, so it stays usable
/// as a previous key for the key window (a client replaying encryptedData after its re-login
/// still decrypts it), and the stored phone number goes at once. Keys retired earlier keep
/// their own retirement time; the purge removes each once its window is over. Call with the
/// user's row locked, having checked that no session is live. Returns whether anything
/// changed.
async fn retire_ring(
    tx: &mut Transaction<'static, MySql>,
    user_id: &str,
    now_ms: i64,
) -> Result<bool, StoreError> {
    let retired = login::retire_current_key(tx, user_id, now_ms).await?;
    let phones = sqlx::query("DELETE FROM user_phones WHERE user_id = ?")
        .bind(user_id)
        .execute(&mut **tx)
        .await?
        .rows_affected();
    Ok(retired || phones > 0)
}

/// Drops the user's whole key ring and stored phone number at once, retired keys included:
/// for deleting the user, which keeps nothing for the key window. Returns how many rows went.
async fn drop_ring(tx: &mut Transaction<'static, MySql>, user_id: &str) -> Result<u64, StoreError> {
    let mut dropped = 0;
    for sql in [
        "DELETE FROM session_keys WHERE user_id = ?",
        "DELETE FROM user_phones WHERE user_id = ?",
    ] {
        dropped += sqlx::query(sql)
            .bind(user_id)
            .execute(&mut **tx)
            .await?
            .rows_affected();
    }
    Ok(dropped)
}

#[async_trait]
impl MaintenanceStore for MySqlStore {
    async fn purge(
        &self,
        now: OffsetDateTime,
        limits: PurgeLimits,
    ) -> Result<PurgeReport, StoreError> {
        purge::run(self, now, limits).await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
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

/// Identifier columns are VARBINARY holding UTF-8 (see migration 0001); sqlx reads them as
/// bytes.
fn text(bytes: Vec<u8>) -> Result<String, StoreError> {
    // The `Utf8Error` only: `FromUtf8Error`'s Debug would carry the bytes (an openid) into logs.
    String::from_utf8(bytes).map_err(|err| StoreError::Corrupt {
        what: "identifier text",
        source: Some(Box::new(err.utf8_error())),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn urls_are_checked_without_echoing_them() {
        let settings = PoolSettings::default();
        let err = MySqlStore::connect_lazy("mysql://u:pw-secret@[::1", &settings).unwrap_err();
        assert!(!format!("{err:?}").contains("pw-secret"));
        assert!(matches!(
            MySqlStore::connect_lazy("mysql://u:pw@127.0.0.1:3306", &settings),
            Err(StoreError::Config(_))
        ));
    }

    #[test]
    fn lock_conflicts_are_recognised_only_through_unavailable() {
        assert!(!is_lock_conflict(&StoreError::from(
            sqlx::Error::PoolTimedOut
        )));
        assert!(!is_lock_conflict(&StoreError::Config("x")));
    }
}
