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
//!
//! # Orphaned rings without scanning every user
//! A user who holds no live session keeps no current session_key and no phone number: their
//! current key is retired (it stays usable as a previous key for the key window, then the
//! retired-keys step removes it like any other) and the phone is dropped. Every write that
//! ends a session explicitly (logout, revoke, family revocation; cap eviction never ends the
//! last one; user deletion removes everything) does this with the user's last live session,
//! in the same transaction. So in normal operation a ring is orphaned only by *expiry*, which
//! this purge observes itself: the `DELETE` of expired sessions returns their owners, and only
//! those users are checked. That costs O(`batch_size`) index probes, where asking "which users
//! with a ring have no live session" anti-joins every user. Keys retired less than
//! `key_window` ago are never touched here, so the window of a key retired by a logout or a
//! rotation is not cut short.
//!
//! What that misses (a pass that failed between the two steps, a phone saved just after its
//! user's last session expired, data from before this scheme) a sweep catches: each pass
//! examines the next [`SWEEP_FACTOR`] × `batch_size` users by primary key, from a cursor kept
//! in memory ([`SweepCursor`]) that wraps to the start, and retires the rings of the orphans
//! (a current key or a phone, no live session) among them within what is left of the batch.
//! At 10 M users and the server's default batch of 1 000, a full sweep is 2 500 passes: at
//! most about 42 hours at one pass a minute, less when passes repeat because some kind filled
//! its batch.

use std::sync::{Mutex, PoisonError};

use time::OffsetDateTime;
use uuid::Uuid;

use super::{PostgresStore, duration_millis, millis, retire_rings_unless_live, retry};
use crate::error::StoreError;
use crate::model::{PurgeLimits, PurgeReport};

/// Users the leftover sweep examines per pass, as a multiple of `batch_size`: each costs a
/// few index probes, so a window of 4 000 users stays in the milliseconds.
const SWEEP_FACTOR: i64 = 4;

/// Where the leftover sweep goes on: the last user id it examined, `None` to start from the
/// lowest. Shared by the clones of a store; each instance (and each restart) sweeps on its own,
/// which only repeats work that `SKIP LOCKED` and the re-checks make harmless.
///
/// A std mutex, not Tokio's: it is held to copy a value in or out, never across an `.await`.
#[derive(Debug, Default)]
pub(super) struct SweepCursor(Mutex<Option<Uuid>>);

impl SweepCursor {
    fn get(&self) -> Option<Uuid> {
        // A poisoned cursor is still a valid place to resume from.
        *self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn set(&self, next: Option<Uuid>) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = next;
    }
}

pub(super) async fn run(
    store: &PostgresStore,
    now: OffsetDateTime,
    limits: PurgeLimits,
) -> Result<PurgeReport, StoreError> {
    let now_ms = millis(now);
    let batch = i64::from(limits.batch_size.max(1));
    let key_cutoff = now_ms.saturating_sub(duration_millis(limits.key_window));
    let inactive_cutoff = now_ms.saturating_sub(duration_millis(limits.inactive_after));

    let (expired_sessions, owners) =
        retry(|| delete_expired_sessions(store, now_ms, batch)).await?;

    let expired_login_codes = delete(
        store,
        "DELETE FROM used_login_codes WHERE expires_at <= $1 AND (appid, code_hash) IN \
         (SELECT appid, code_hash FROM used_login_codes WHERE expires_at <= $1 \
          LIMIT $2 FOR UPDATE SKIP LOCKED)",
        now_ms,
        batch,
    )
    .await?;

    let mut orphaned_key_rings = retry(|| retire_rings_of(store, &owners, now_ms)).await?;
    let room = batch.saturating_sub_unsigned(orphaned_key_rings);
    if room > 0 {
        orphaned_key_rings +=
            sweep(store, now_ms, batch.saturating_mul(SWEEP_FACTOR), room).await?;
    }

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

/// Deletes up to `batch` sessions expired at `now_ms` (no epoch bump: a cache re-checks expiry
/// on every hit anyway). Returns how many, and their owners, each once, in id order: the
/// users whose ring this may have orphaned.
async fn delete_expired_sessions(
    store: &PostgresStore,
    now_ms: i64,
    batch: i64,
) -> Result<(u64, Vec<Uuid>), StoreError> {
    // idle_expires_at <= absolute_expires_at always, so this also covers absolute expiry.
    let rows: Vec<(Uuid,)> = sqlx::query_as(
        "DELETE FROM sessions WHERE idle_expires_at <= $1 AND session_id IN \
         (SELECT session_id FROM sessions WHERE idle_expires_at <= $1 \
          LIMIT $2 FOR UPDATE SKIP LOCKED) \
         RETURNING user_id",
    )
    .bind(now_ms)
    .bind(batch)
    .fetch_all(&store.pool)
    .await?;
    let deleted = rows.len() as u64;
    let mut owners: Vec<Uuid> = rows.into_iter().map(|(id,)| id).collect();
    owners.sort_unstable();
    owners.dedup();
    Ok((deleted, owners))
}

/// Retires the current key and drops the phone of those of `users` who hold no live session
/// (see [`retire_rings_unless_live`]); returns how many users lost something.
async fn retire_rings_of(
    store: &PostgresStore,
    users: &[Uuid],
    now_ms: i64,
) -> Result<u64, StoreError> {
    if users.is_empty() {
        return Ok(0);
    }
    let mut tx = store.begin().await?;
    let rows: Vec<(Uuid,)> = sqlx::query_as(
        "SELECT u.user_id FROM users AS u WHERE u.user_id = ANY($1) \
         AND (EXISTS (SELECT 1 FROM session_keys AS k \
                  WHERE k.user_id = u.user_id AND k.retired_at IS NULL) \
              OR EXISTS (SELECT 1 FROM user_phones AS p WHERE p.user_id = u.user_id)) \
         AND NOT EXISTS \
         (SELECT 1 FROM sessions AS s WHERE s.user_id = u.user_id AND s.idle_expires_at > $2) \
         ORDER BY u.user_id FOR UPDATE OF u SKIP LOCKED",
    )
    .bind(users)
    .bind(now_ms)
    .fetch_all(&mut *tx)
    .await?;
    let locked: Vec<Uuid> = rows.into_iter().map(|(id,)| id).collect();
    let dropped = retire_rings_unless_live(&mut tx, &locked, now_ms).await?;
    tx.commit().await?;
    Ok(dropped)
}

/// One sweep step: retires the rings of at most `room` orphans among the next `window` users
/// after the cursor, and moves the cursor on. Returns how many users lost something.
async fn sweep(
    store: &PostgresStore,
    now_ms: i64,
    window: i64,
    room: i64,
) -> Result<u64, StoreError> {
    // No id we issue is nil (UUIDv7 has version bits), so "after nil" is "from the start".
    let after = store.sweep.get().unwrap_or_else(Uuid::nil);
    let end: Option<(Uuid, i64)> = sqlx::query_as(
        "SELECT user_id, count(*) OVER () FROM \
         (SELECT user_id FROM users WHERE user_id > $1 ORDER BY user_id LIMIT $2) AS w \
         ORDER BY user_id DESC LIMIT 1",
    )
    .bind(after)
    .bind(window)
    .fetch_optional(&store.pool)
    .await?;
    let Some((last, seen)) = end else {
        // Past the last user (or none at all): start over next pass.
        store.sweep.set(None);
        return Ok(0);
    };
    let (dropped, locked) =
        retry(|| retire_orphans_between(store, after, last, now_ms, room)).await?;
    // With the room used up there may be more orphans in this window: resume after the last
    // one taken. Otherwise the window is done; a short one was the end of the table.
    let next = match locked.last() {
        Some(&taken) if locked.len() as i64 >= room => Some(taken),
        _ if seen < window => None,
        _ => Some(last),
    };
    store.sweep.set(next);
    Ok(dropped)
}

/// Locks up to `room` users in (`after`, `last`] that own a current key or a phone but hold no
/// live session (skipping users locked by someone else), retires the key and drops the phone,
/// and returns how many lost something together with the ids locked, ascending.
async fn retire_orphans_between(
    store: &PostgresStore,
    after: Uuid,
    last: Uuid,
    now_ms: i64,
    room: i64,
) -> Result<(u64, Vec<Uuid>), StoreError> {
    let mut tx = store.begin().await?;
    // Both shapes keep every read within the window, whatever the planner estimates for a
    // range of time-ordered UUIDs (it can be far off):
    // * the ring and phone checks repeat the window's range, so that their hashed form (one
    //   scan, then lookups) reads only the window's keys and phones, not the whole tables;
    // * the live-session check is one index probe per user: `OFFSET 0` keeps PostgreSQL from
    //   turning the `NOT EXISTS` into an anti-join, which it planned as a scan of every session
    //   (0.5 s for a window of 20 000 of 1 M users, against 30 ms) or, given the range there
    //   too, as a nested loop over the window's sessions for each user (quadratic).
    let rows: Vec<(Uuid,)> = sqlx::query_as(
        "SELECT u.user_id FROM users AS u WHERE u.user_id > $1 AND u.user_id <= $2 \
         AND (EXISTS (SELECT 1 FROM session_keys AS k \
                  WHERE k.user_id = u.user_id AND k.user_id > $1 AND k.user_id <= $2 \
                  AND k.retired_at IS NULL) \
              OR EXISTS (SELECT 1 FROM user_phones AS p \
                  WHERE p.user_id = u.user_id AND p.user_id > $1 AND p.user_id <= $2)) \
         AND NOT EXISTS (SELECT 1 FROM sessions AS s \
             WHERE s.user_id = u.user_id AND s.idle_expires_at > $3 OFFSET 0) \
         ORDER BY u.user_id LIMIT $4 FOR UPDATE OF u SKIP LOCKED",
    )
    .bind(after)
    .bind(last)
    .bind(now_ms)
    .bind(room)
    .fetch_all(&mut *tx)
    .await?;
    let locked: Vec<Uuid> = rows.into_iter().map(|(id,)| id).collect();
    let dropped = retire_rings_unless_live(&mut tx, &locked, now_ms).await?;
    tx.commit().await?;
    Ok((dropped, locked))
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
