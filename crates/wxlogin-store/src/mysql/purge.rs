//! The bounded background purge.
//!
//! Rows that are dead whatever happens next (expired sessions and code records, retired keys
//! past the window) go with one autocommit `DELETE … LIMIT n` each: MySQL accepts `LIMIT` on a
//! single-table `DELETE` but not inside `IN (SELECT …)`.
//!
//! Rings and inactive users are different: a login may give the user a live session at any
//! moment. Candidates are listed with a plain read, then each is handled in its own short
//! transaction that locks the user's row (the same per-user lock `record_login` takes) and
//! checks again with locking reads before deleting, so a login that commits first is seen and
//! a login that comes later waits and then starts afresh.

use time::OffsetDateTime;

use super::{
    MySqlStore, delete_user_sessions, drop_ring, duration_millis, has_live_session, lock_user,
    millis, retry,
};
use crate::error::StoreError;
use crate::model::{PurgeLimits, PurgeReport};

pub(super) async fn run(
    store: &MySqlStore,
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
        "DELETE FROM sessions WHERE idle_expires_at <= ? LIMIT ?",
        now_ms,
        batch,
    )
    .await?;
    let expired_login_codes = delete(
        store,
        "DELETE FROM used_login_codes WHERE expires_at <= ? LIMIT ?",
        now_ms,
        batch,
    )
    .await?;
    let orphaned_key_rings = drop_orphaned_rings(store, now_ms, batch).await?;
    let retired_keys = delete(
        store,
        "DELETE FROM session_keys WHERE retired_at IS NOT NULL AND retired_at <= ? LIMIT ?",
        key_cutoff,
        batch,
    )
    .await?;
    let inactive_users = delete_inactive_users(store, inactive_cutoff, now_ms, batch).await?;

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
    store: &MySqlStore,
    sql: &'static str,
    cutoff: i64,
    batch: i64,
) -> Result<u64, StoreError> {
    retry(|| async {
        Ok(sqlx::query(sql)
            .bind(cutoff)
            .bind(batch)
            .execute(&store.pool)
            .await?
            .rows_affected())
    })
    .await
}

/// Drops the whole ring (and stored phone) of up to `batch` users who hold no live session;
/// returns how many.
async fn drop_orphaned_rings(
    store: &MySqlStore,
    now_ms: i64,
    batch: i64,
) -> Result<u64, StoreError> {
    let candidates: Vec<(String,)> = sqlx::query_as(
        "SELECT k.user_id FROM \
         (SELECT user_id FROM session_keys UNION SELECT user_id FROM user_phones) AS k \
         WHERE NOT EXISTS (SELECT 1 FROM sessions AS s \
             WHERE s.user_id = k.user_id AND s.idle_expires_at > ?) \
         ORDER BY k.user_id LIMIT ?",
    )
    .bind(now_ms)
    .bind(batch)
    .fetch_all(&store.pool)
    .await?;

    let mut dropped = 0;
    for (user_id,) in &candidates {
        let done = retry(|| async {
            let mut tx = store.begin().await?;
            if !lock_user(&mut tx, user_id).await?
                || has_live_session(&mut tx, user_id, now_ms).await?
            {
                return Ok(false);
            }
            let removed = drop_ring(&mut tx, user_id).await?;
            tx.commit().await?;
            Ok(removed > 0)
        })
        .await?;
        dropped += u64::from(done);
    }
    Ok(dropped)
}

/// Deletes up to `batch` users whose last login is at or before `cutoff_ms` and who hold no
/// live session, with everything they own; returns how many.
async fn delete_inactive_users(
    store: &MySqlStore,
    cutoff_ms: i64,
    now_ms: i64,
    batch: i64,
) -> Result<u64, StoreError> {
    let candidates: Vec<(String,)> = sqlx::query_as(
        "SELECT u.user_id FROM users AS u WHERE u.last_login_at <= ? AND NOT EXISTS \
         (SELECT 1 FROM sessions AS s WHERE s.user_id = u.user_id AND s.idle_expires_at > ?) \
         ORDER BY u.user_id LIMIT ?",
    )
    .bind(cutoff_ms)
    .bind(now_ms)
    .bind(batch)
    .fetch_all(&store.pool)
    .await?;

    let mut deleted = 0;
    for (user_id,) in &candidates {
        let user_text = user_id.as_str();
        let done = retry(|| async {
            let mut tx = store.begin().await?;
            let last_login: Option<(i64,)> =
                sqlx::query_as("SELECT last_login_at FROM users WHERE user_id = ? FOR UPDATE")
                    .bind(user_text)
                    .fetch_optional(&mut *tx)
                    .await?;
            if last_login.is_none_or(|(at,)| at > cutoff_ms)
                || has_live_session(&mut tx, user_text, now_ms).await?
            {
                return Ok(false);
            }
            // Only expired sessions are left: deleting them ends nothing, so no epoch bump.
            delete_user_sessions(&mut tx, user_text).await?;
            drop_ring(&mut tx, user_text).await?;
            sqlx::query("DELETE FROM users WHERE user_id = ?")
                .bind(user_text)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(true)
        })
        .await?;
        deleted += u64::from(done);
    }
    Ok(deleted)
}
