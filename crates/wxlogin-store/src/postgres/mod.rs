//! The PostgreSQL backend, shared by several instances of the server.
//!
//! # Connections
//! One bounded pool per instance ([`PoolSettings`]): waiting for a connection longer than the
//! acquire timeout, or a server that cannot be reached, is [`StoreError::Unavailable`]. Every
//! connection carries a server-side `statement_timeout` from its startup packet, so a statement
//! stuck behind a lock is cancelled by the server (also `Unavailable`) instead of holding a
//! pooled connection forever.
//!
//! # Concurrency
//! Unlike SQLite, several writers run at once, across processes, under READ COMMITTED (set
//! explicitly on every transaction, whatever the database's default). Correctness rests on
//! three rules rather than on a single writer:
//! * **One statement where one suffices.** Claiming a login code, saving an access_token,
//!   claiming a forced refresh and storing a cluster secret are single `INSERT … ON CONFLICT`
//!   statements: PostgreSQL makes a concurrent inserter of the same key wait for the first one,
//!   then re-evaluates the `DO UPDATE … WHERE` against the row now committed, so exactly one
//!   caller wins.
//! * **The user row is the lock for everything the user owns.** Every transaction that creates
//!   or ends a user's sessions, or changes or drops their key ring and phone, first locks the
//!   user row (`SELECT … FOR UPDATE`, or the upsert in `record_login`, which locks it the same
//!   way). Only single-row, single-statement writes (`touch_session`, `save_phone`, the
//!   rotation step of `rotate_token`) skip it. Those transactions are
//!   therefore serialised per user, and because each statement under READ COMMITTED takes a
//!   fresh snapshot, a statement run after the lock sees everything its predecessor committed.
//!   Purge takes the same locks with `SKIP LOCKED`, so it never waits for a login.
//! * **Locks in one order.** User row first, the revocation epoch's single row last; the
//!   epoch is bumped as the last statement before commit so it is held briefly. A deadlock or
//!   serialization failure that slips through anyway (SQLSTATE 40P01 / 40001) is retried a
//!   bounded number of times (`retry`).
//!
//! Migrations are not applied by [`PostgresStore::connect`]: call [`PostgresStore::migrate`]
//! (sqlx holds an advisory lock while migrating, so instances starting together are safe).

mod login;
mod purge;
mod rotation;
mod sessions;
mod tokens;
mod users;

use std::collections::HashSet;
use std::future::Future;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{Postgres, Transaction};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::error::StoreError;
use crate::model::{PoolSettings, PurgeLimits, PurgeReport};
use crate::traits::MaintenanceStore;

/// Embedded migrations, applied by [`PostgresStore::migrate`].
static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("migrations/postgres");

/// How many times a transaction is tried when PostgreSQL aborts it as a deadlock victim or
/// for a serialization failure. The other party has committed by the time we retry.
const MAX_ATTEMPTS: u32 = 3;

/// PostgreSQL's largest `statement_timeout`, in milliseconds (an `int4` setting).
const MAX_STATEMENT_TIMEOUT_MS: i64 = i32::MAX as i64;

/// The PostgreSQL backend. Cloning shares the pool.
#[derive(Clone)]
pub struct PostgresStore {
    pool: PgPool,
    statement_timeout: Duration,
    /// Where the purge's sweep for leftover orphaned rings goes on (see `purge`).
    sweep: Arc<purge::SweepCursor>,
}

// By hand: the connect options hold the URL's password, so they are never printed.
impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStore")
            .field("connections", &self.pool.size())
            .field("idle", &self.pool.num_idle())
            .field("closed", &self.pool.is_closed())
            .field("statement_timeout", &self.statement_timeout)
            .finish_non_exhaustive()
    }
}

impl PostgresStore {
    /// Connects a pool bounded by `settings` to the database at `url`
    /// (`postgres://user:password@host:port/database?sslmode=…`). Opens `min_connections`
    /// (at least one) before returning, so a wrong URL or an unreachable server fails here,
    /// within the acquire timeout. Does not migrate.
    pub async fn connect(url: &str, settings: &PoolSettings) -> Result<Self, StoreError> {
        if settings.max_connections == 0 {
            return Err(StoreError::Config("max_connections must be at least 1"));
        }
        if settings.min_connections > settings.max_connections {
            return Err(StoreError::Config(
                "min_connections must not exceed max_connections",
            ));
        }
        // sqlx would read another scheme's URL as PostgreSQL's and try to connect with it.
        let scheme = url.split_once("://").map(|(scheme, _)| scheme);
        if !scheme.is_some_and(|s| {
            s.eq_ignore_ascii_case("postgres") || s.eq_ignore_ascii_case("postgresql")
        }) {
            return Err(StoreError::Config(
                "PostgreSQL URL must start with postgres:// or postgresql://",
            ));
        }
        // The parse error may quote the URL, password included: it is not kept.
        let options = PgConnectOptions::from_str(url)
            .map_err(|_| StoreError::Config("invalid PostgreSQL URL"))?;
        let timeout_ms = duration_millis(settings.statement_timeout).min(MAX_STATEMENT_TIMEOUT_MS);
        // Appended after any options in the URL, so the setting here wins.
        let options = options.options([("statement_timeout", timeout_ms)]);

        let pool = PgPoolOptions::new()
            .max_connections(settings.max_connections)
            .min_connections(settings.min_connections)
            .acquire_timeout(settings.acquire_timeout)
            .connect_with(options)
            .await?;
        Ok(Self {
            pool,
            statement_timeout: settings.statement_timeout,
            sweep: Arc::default(),
        })
    }

    /// Applies the migrations in `migrations/postgres` that are not applied yet. Safe to run
    /// from several instances at once: sqlx serialises them with an advisory lock, and the
    /// later ones find nothing left to do.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        // Waiting for another instance's migration lock, or a long DDL statement, is not a
        // stuck query: migrate on a connection of its own without the statement timeout,
        // rather than changing and restoring a setting on a pooled one.
        let options = (*self.pool.connect_options())
            .clone()
            .options([("statement_timeout", 0)]);
        let pool = PgPoolOptions::new()
            .max_connections(1)
            .min_connections(0)
            .acquire_timeout(self.pool.options().get_acquire_timeout())
            .connect_with(options)
            .await?;
        let result = MIGRATOR.run(&pool).await;
        pool.close().await;
        result.map_err(migrate_error)
    }

    /// Closes the pool, waiting for connections in use to be returned. After this every
    /// method fails with [`StoreError::Unavailable`].
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Starts a transaction at READ COMMITTED, which the locking scheme (module docs) assumes:
    /// each statement after a row lock must see what the lock's previous holder committed.
    async fn begin(&self) -> Result<Transaction<'static, Postgres>, StoreError> {
        Ok(self
            .pool
            .begin_with("BEGIN ISOLATION LEVEL READ COMMITTED")
            .await?)
    }
}

fn migrate_error(err: sqlx::migrate::MigrateError) -> StoreError {
    match err {
        // A lost connection while migrating is as transient as anywhere else.
        sqlx::migrate::MigrateError::Execute(inner) => inner.into(),
        other => StoreError::Internal(Box::new(other)),
    }
}

/// Runs `attempt` until it succeeds, fails for another reason than a deadlock or
/// serialization failure, or has been tried [`MAX_ATTEMPTS`] times.
///
/// `attempt` must be a whole transaction (or a single statement): a failed attempt has been
/// rolled back, so running it again is safe.
async fn retry<T, F, Fut>(mut attempt: F) -> Result<T, StoreError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, StoreError>>,
{
    let mut attempts = 1;
    loop {
        match attempt().await {
            Err(err) if attempts < MAX_ATTEMPTS && is_retryable(&err) => attempts += 1,
            other => return other,
        }
    }
}

/// SQLSTATE 40001 (serialization failure) or 40P01 (deadlock detected).
fn is_retryable(err: &StoreError) -> bool {
    std::error::Error::source(err)
        .and_then(|source| source.downcast_ref::<sqlx::Error>())
        .and_then(sqlx::Error::as_database_error)
        .and_then(|db| db.code())
        .is_some_and(|code| code == "40001" || code == "40P01")
}

/// Locks the user's row until the transaction ends (see the module docs); `false` when there
/// is no such user.
async fn lock_user(
    tx: &mut Transaction<'static, Postgres>,
    user_id: Uuid,
) -> Result<bool, StoreError> {
    let row: Option<(i32,)> = sqlx::query_as("SELECT 1 FROM users WHERE user_id = $1 FOR UPDATE")
        .bind(user_id)
        .fetch_optional(&mut **tx)
        .await?;
    Ok(row.is_some())
}

/// Bumps the revocation epoch inside a write transaction. Its row is the most contended one
/// in the schema, so call this last, just before commit.
async fn bump_epoch(tx: &mut Transaction<'static, Postgres>) -> Result<(), StoreError> {
    sqlx::query("UPDATE revocation_epoch SET epoch = epoch + 1 WHERE id = 1")
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// What happens to the ring and phone of each of `users` who holds no session live at
/// `now_ms` (their last one just ended, or expired): the current session_key is retired at
/// `now_ms`, so it stays usable as a previous key for the key window (a client replaying
/// encryptedData after its re-login still decrypts it), and the stored phone number goes at
/// once. Keys retired earlier keep their own retirement time; the purge removes each once its
/// window is over. The caller holds the users' locks. Returns how many users lost something.
async fn retire_rings_unless_live(
    tx: &mut Transaction<'static, Postgres>,
    users: &[Uuid],
    now_ms: i64,
) -> Result<u64, StoreError> {
    if users.is_empty() {
        return Ok(0);
    }
    let mut changed = HashSet::new();
    for sql in [
        "UPDATE session_keys AS k SET retired_at = $2 \
         WHERE k.user_id = ANY($1) AND k.retired_at IS NULL AND NOT EXISTS \
         (SELECT 1 FROM sessions AS s WHERE s.user_id = k.user_id AND s.idle_expires_at > $2) \
         RETURNING k.user_id",
        "DELETE FROM user_phones AS p WHERE p.user_id = ANY($1) AND NOT EXISTS \
         (SELECT 1 FROM sessions AS s WHERE s.user_id = p.user_id AND s.idle_expires_at > $2) \
         RETURNING p.user_id",
    ] {
        let rows: Vec<(Uuid,)> = sqlx::query_as(sql)
            .bind(users)
            .bind(now_ms)
            .fetch_all(&mut **tx)
            .await?;
        changed.extend(rows.into_iter().map(|(id,)| id));
    }
    Ok(changed.len() as u64)
}

#[async_trait]
impl MaintenanceStore for PostgresStore {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn millis_round_trip() {
        let t = time::macros::datetime!(2026-03-04 05:06:07.123 UTC);
        assert_eq!(from_millis(millis(t)).unwrap(), t);
    }

    #[test]
    fn only_deadlocks_and_serialization_failures_are_retried() {
        assert!(!is_retryable(&StoreError::from(sqlx::Error::PoolTimedOut)));
        assert!(!is_retryable(&StoreError::Config("x")));
    }

    #[tokio::test]
    async fn bad_settings_and_urls_are_config_errors() {
        let zero = PoolSettings {
            max_connections: 0,
            ..PoolSettings::default()
        };
        let url = "postgres://u:pw-secret@127.0.0.1:1/x";
        assert!(matches!(
            PostgresStore::connect(url, &zero).await,
            Err(StoreError::Config(_))
        ));
        let err = PostgresStore::connect("mysql://u:pw-secret@h/x", &PoolSettings::default())
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::Config(_)));
        assert!(!format!("{err} {err:?}").contains("pw-secret"));
    }
}
