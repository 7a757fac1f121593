//! The bounded background purge.
//!
//! Each kind is one short statement or transaction. Rows are picked with
//! `FOR UPDATE SKIP LOCKED`: a row some login or logout is working on is left for the next
//! pass instead of waited for, so the purge neither blocks traffic nor deadlocks with it, and
//! purges running on several instances at once share the work. The outer `DELETE` repeats the
//! picking condition, so a row changed after it was picked (a renewed session) is re-checked.
//!
//! Rings and users are only removed under the user's row lock (see the module docs of
//! [`super`]), re-checking "no live session" after the lock is held: a login committing in
//! between is seen, and one still in flight holds the lock and is skipped.

use std::collections::HashSet;

use sqlx::{Postgres, Transaction};
use time::OffsetDateTime;
use uuid::Uuid;

use super::{PostgresStore, duration_millis, millis, retry};
use crate::error::StoreError;
use crate::model::{PurgeLimits, PurgeReport};

pub(super) async fn run(
    store: &PostgresStore,
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
        "DELETE FROM sessions WHERE idle_expires_at <= $1 AND session_id IN \
         (SELECT session_id FROM sessions WHERE idle_expires_at <= $1 \
          LIMIT $2 FOR UPDATE SKIP LOCKED)",
        now_ms,
        batch,
    )
    .await?;

    let expired_login_codes = delete(
        store,
        "DELETE FROM used_login_codes WHERE expires_at <= $1 AND (appid, code_hash) IN \
         (SELECT appid, code_hash FROM used_login_codes WHERE expires_at <= $1 \
          LIMIT $2 FOR UPDATE SKIP LOCKED)",
        now_ms,
        batch,
    )
    .await?;

    let orphaned_key_rings = retry(|| drop_orphaned_rings(store, now_ms, batch)).await?;

    let retired_keys = delete(
        store,
        "DELETE FROM session_keys WHERE retired_at <= $1 AND (user_id, fingerprint) IN \
         (SELECT user_id, fingerprint FROM session_keys \
          WHERE retired_at IS NOT NULL AND retired_at <= $1 \
          LIMIT $2 FOR UPDATE SKIP LOCKED)",
        key_cutoff,
        batch,
    )
    .await?;

    let inactive_users =
        retry(|| delete_inactive_users(store, inactive_cutoff, now_ms, batch)).await?;

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
    store: &PostgresStore,
    sql: &'static str,
    cutoff: i64,
    batch: i64,
) -> Result<u64, StoreError> {
    retry(|| async move {
        Ok(sqlx::query(sql)
            .bind(cutoff)
            .bind(batch)
            .execute(&store.pool)
            .await?
            .rows_affected())
    })
    .await
}

/// Locks up to `batch` users that own a key ring or phone but hold no live session, skipping
/// users locked by someone else.
async fn lock_orphans(
    tx: &mut Transaction<'static, Postgres>,
    now_ms: i64,
    batch: i64,
) -> Result<Vec<Uuid>, StoreError> {
    let rows: Vec<(Uuid,)> = sqlx::query_as(
        "SELECT u.user_id FROM users AS u \
         WHERE u.user_id IN (SELECT user_id FROM session_keys UNION SELECT user_id FROM user_phones) \
         AND NOT EXISTS \
         (SELECT 1 FROM sessions AS s WHERE s.user_id = u.user_id AND s.idle_expires_at > $1) \
         LIMIT $2 FOR UPDATE OF u SKIP LOCKED",
    )
    .bind(now_ms)
    .bind(batch)
    .fetch_all(&mut **tx)
    .await?;
    Ok(rows.into_iter().map(|(id,)| id).collect())
}

/// Drops the whole ring (and stored phone) of up to `batch` users who hold no live session;
/// returns how many users lost something.
async fn drop_orphaned_rings(
    store: &PostgresStore,
    now_ms: i64,
    batch: i64,
) -> Result<u64, StoreError> {
    let mut tx = store.begin().await?;
    let users = lock_orphans(&mut tx, now_ms, batch).await?;
    if users.is_empty() {
        return Ok(0);
    }
    let mut dropped = HashSet::new();
    for sql in [
        "DELETE FROM session_keys AS k WHERE k.user_id = ANY($1) AND NOT EXISTS \
         (SELECT 1 FROM sessions AS s WHERE s.user_id = k.user_id AND s.idle_expires_at > $2) \
         RETURNING k.user_id",
        "DELETE FROM user_phones AS p WHERE p.user_id = ANY($1) AND NOT EXISTS \
         (SELECT 1 FROM sessions AS s WHERE s.user_id = p.user_id AND s.idle_expires_at > $2) \
         RETURNING p.user_id",
    ] {
        let rows: Vec<(Uuid,)> = sqlx::query_as(sql)
            .bind(users.as_slice())
            .bind(now_ms)
            .fetch_all(&mut *tx)
            .await?;
        dropped.extend(rows.into_iter().map(|(id,)| id));
    }
    tx.commit().await?;
    Ok(dropped.len() as u64)
}

/// Deletes up to `batch` users last seen at or before `cutoff_ms` who hold no session live at
/// `now_ms`; ON DELETE CASCADE removes their (expired) sessions, keys and phone with them.
async fn delete_inactive_users(
    store: &PostgresStore,
    cutoff_ms: i64,
    now_ms: i64,
    batch: i64,
) -> Result<u64, StoreError> {
    let mut tx = store.begin().await?;
    let candidates: Vec<(Uuid,)> = sqlx::query_as(
        "SELECT u.user_id FROM users AS u WHERE u.last_login_at <= $1 AND NOT EXISTS \
         (SELECT 1 FROM sessions AS s WHERE s.user_id = u.user_id AND s.idle_expires_at > $2) \
         LIMIT $3 FOR UPDATE OF u SKIP LOCKED",
    )
    .bind(cutoff_ms)
    .bind(now_ms)
    .bind(batch)
    .fetch_all(&mut *tx)
    .await?;
    if candidates.is_empty() {
        return Ok(0);
    }
    let users: Vec<Uuid> = candidates.into_iter().map(|(id,)| id).collect();
    let deleted = sqlx::query(
        "DELETE FROM users AS u WHERE u.user_id = ANY($1) AND u.last_login_at <= $2 \
         AND NOT EXISTS \
         (SELECT 1 FROM sessions AS s WHERE s.user_id = u.user_id AND s.idle_expires_at > $3)",
    )
    .bind(users.as_slice())
    .bind(cutoff_ms)
    .bind(now_ms)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    tx.commit().await?;
    Ok(deleted)
}
