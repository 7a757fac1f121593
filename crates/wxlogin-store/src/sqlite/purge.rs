//! The bounded background purge.
//!
//! Each kind is one short autocommit statement (or one short transaction), so the single
//! writer is never held for long and logins interleave with a large purge. SQLite and
//! PostgreSQL accept `LIMIT` inside the `IN (SELECT …)`; MySQL does not, and uses
//! `DELETE … WHERE … LIMIT n` (single table) or a select-then-delete instead.

use time::OffsetDateTime;

use super::{SqliteStore, duration_millis, millis};
use crate::error::StoreError;
use crate::model::{PurgeLimits, PurgeReport};

pub(super) async fn run(
    store: &SqliteStore,
    now: OffsetDateTime,
    limits: PurgeLimits,
) -> Result<PurgeReport, StoreError> {
    let now_ms = millis(now);
    let batch = i64::from(limits.batch_size.max(1));
    let key_cutoff = now_ms.saturating_sub(duration_millis(limits.key_window));
    let inactive_cutoff = now_ms.saturating_sub(duration_millis(limits.inactive_after));

    // Expired at `now`: no epoch bump, a cache re-checks expiry on every hit anyway.
    // (idle_expires_at <= absolute_expires_at always, so this also covers absolute expiry.)
    let expired_sessions = delete(
        store,
        "DELETE FROM sessions WHERE session_id IN \
         (SELECT session_id FROM sessions WHERE idle_expires_at <= ?1 LIMIT ?2)",
        now_ms,
        batch,
    )
    .await?;

    let expired_login_codes = delete(
        store,
        "DELETE FROM used_login_codes WHERE rowid IN \
         (SELECT rowid FROM used_login_codes WHERE expires_at <= ?1 LIMIT ?2)",
        now_ms,
        batch,
    )
    .await?;

    let orphaned_key_rings = drop_orphaned_rings(store, now_ms, batch).await?;

    let retired_keys = delete(
        store,
        "DELETE FROM session_keys WHERE rowid IN \
         (SELECT rowid FROM session_keys \
          WHERE retired_at IS NOT NULL AND retired_at <= ?1 LIMIT ?2)",
        key_cutoff,
        batch,
    )
    .await?;

    // ON DELETE CASCADE removes their (expired) sessions and key rings with them.
    let inactive_users = sqlx::query(
        "DELETE FROM users WHERE user_id IN \
         (SELECT u.user_id FROM users AS u WHERE u.last_login_at <= ?1 AND NOT EXISTS \
          (SELECT 1 FROM sessions AS s WHERE s.user_id = u.user_id AND s.idle_expires_at > ?2) \
          LIMIT ?3)",
    )
    .bind(inactive_cutoff)
    .bind(now_ms)
    .bind(batch)
    .execute(&store.writer)
    .await?
    .rows_affected();

    let full = |n: u64| n >= batch.unsigned_abs();
    Ok(PurgeReport {
        expired_sessions,
        expired_login_codes,
        orphaned_key_rings,
        retired_keys,
        inactive_users,
        more: full(expired_sessions)
            || full(expired_login_codes)
            || full(orphaned_key_rings)
            || full(retired_keys)
            || full(inactive_users),
    })
}

async fn delete(
    store: &SqliteStore,
    sql: &'static str,
    cutoff: i64,
    batch: i64,
) -> Result<u64, StoreError> {
    Ok(sqlx::query(sql)
        .bind(cutoff)
        .bind(batch)
        .execute(&store.writer)
        .await?
        .rows_affected())
}

/// Drops the whole ring (and stored phone) of up to `batch` users who hold no live session;
/// returns how many.
async fn drop_orphaned_rings(
    store: &SqliteStore,
    now_ms: i64,
    batch: i64,
) -> Result<u64, StoreError> {
    let mut tx = store.begin_write().await?;
    let users: Vec<(String,)> = sqlx::query_as(
        "SELECT user_id FROM (SELECT user_id FROM session_keys UNION SELECT user_id FROM user_phones) \
         AS k WHERE NOT EXISTS \
         (SELECT 1 FROM sessions AS s WHERE s.user_id = k.user_id AND s.idle_expires_at > ?1) \
         LIMIT ?2",
    )
    .bind(now_ms)
    .bind(batch)
    .fetch_all(&mut *tx)
    .await?;
    for (user_id,) in &users {
        for sql in [
            "DELETE FROM session_keys WHERE user_id = ?1",
            "DELETE FROM user_phones WHERE user_id = ?1",
        ] {
            sqlx::query(sql).bind(user_id).execute(&mut *tx).await?;
        }
    }
    tx.commit().await?;
    Ok(users.len() as u64)
}
