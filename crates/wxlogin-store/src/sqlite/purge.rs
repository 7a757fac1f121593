//! The bounded background purge.
//!
//! Each kind is one short autocommit statement (or one short transaction), so the single
//! writer is never held for long and logins interleave with a large purge. SQLite and
//! PostgreSQL accept `LIMIT` inside the `IN (SELECT …)`; MySQL does not, and uses
//! `DELETE … WHERE … LIMIT n` (single table) or a select-then-delete instead.
//!
//! # Orphaned rings without scanning every user
//! A user who holds no live session keeps no current session_key and no phone number: their
//! current key is retired (it stays usable as a previous key for the key window, then the
//! retired-keys step removes it like any other) and the phone is dropped. Every write that
//! ends a session explicitly does this with the user's last live session, so in normal
//! operation a ring is orphaned only by *expiry*, which this purge observes itself: the
//! `DELETE` of expired sessions returns their owners, and only those users are checked,
//! O(`batch_size`) index probes instead of an anti-join of every user. Keys retired less than
//! `key_window` ago are never touched here, so the window of a key retired by a logout or a
//! rotation is not cut short.
//!
//! What that misses (a pass that failed between the two steps, a phone saved just after its
//! user's last session expired, data from before this scheme) a sweep catches: each pass
//! examines the next [`SWEEP_FACTOR`] × `batch_size` users by primary key from a cursor kept
//! in memory ([`SweepCursor`]), wrapping to the start, looking for a current key or a phone
//! without a live session. At 10 M users and the server's default batch of 1 000, a full
//! sweep is 2 500 passes: at most about 42 hours at one pass a minute.

use std::sync::{Mutex, PoisonError};

use time::OffsetDateTime;

use super::{SqliteStore, duration_millis, millis, retire_ring_unless_live};
use crate::error::StoreError;
use crate::model::{PurgeLimits, PurgeReport};

/// Users the leftover sweep examines per pass, as a multiple of `batch_size`.
const SWEEP_FACTOR: i64 = 4;

/// Where the leftover sweep goes on: the last user id it examined, `None` to start from the
/// lowest. Shared by the clones of a store; a restart starts over.
///
/// A std mutex, not Tokio's: it is held to copy a value in or out, never across an `.await`.
#[derive(Debug, Default)]
pub(super) struct SweepCursor(Mutex<Option<String>>);

impl SweepCursor {
    fn get(&self) -> Option<String> {
        // A poisoned cursor is still a valid place to resume from.
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn set(&self, next: Option<String>) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = next;
    }
}

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
    let owners: Vec<(String,)> = sqlx::query_as(
        "DELETE FROM sessions WHERE session_id IN \
         (SELECT session_id FROM sessions WHERE idle_expires_at <= ?1 LIMIT ?2) \
         RETURNING user_id",
    )
    .bind(now_ms)
    .bind(batch)
    .fetch_all(&store.writer)
    .await?;
    let expired_sessions = owners.len() as u64;
    let mut owners: Vec<String> = owners.into_iter().map(|(id,)| id).collect();
    owners.sort_unstable();
    owners.dedup();

    let expired_login_codes = delete(
        store,
        "DELETE FROM used_login_codes WHERE rowid IN \
         (SELECT rowid FROM used_login_codes WHERE expires_at <= ?1 LIMIT ?2)",
        now_ms,
        batch,
    )
    .await?;

    let mut orphaned_key_rings = retire_rings_of(store, &owners, now_ms).await?;
    let room = batch.saturating_sub_unsigned(orphaned_key_rings);
    if room > 0 {
        orphaned_key_rings +=
            sweep(store, now_ms, batch.saturating_mul(SWEEP_FACTOR), room).await?;
    }

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

/// Retires the current key and drops the phone of those of `users` who hold no live session
/// (see [`retire_ring_unless_live`]); returns how many users lost something.
async fn retire_rings_of(
    store: &SqliteStore,
    users: &[String],
    now_ms: i64,
) -> Result<u64, StoreError> {
    if users.is_empty() {
        return Ok(0);
    }
    let mut tx = store.begin_write().await?;
    let mut dropped = 0;
    for user_id in users {
        dropped += u64::from(retire_ring_unless_live(&mut tx, user_id, now_ms).await?);
    }
    tx.commit().await?;
    Ok(dropped)
}

/// One sweep step: retires the rings of at most `room` orphans (a current key or a phone, no
/// live session) among the next `window` users after the cursor, and moves the cursor on.
/// Returns how many users lost something.
///
/// The reads run on the read pool, outside the write transaction (which must not wait for a
/// read connection: in memory both pools are one connection); the deletes re-check.
async fn sweep(
    store: &SqliteStore,
    now_ms: i64,
    window: i64,
    room: i64,
) -> Result<u64, StoreError> {
    // Every id sorts after the empty string: "after ''" is "from the start".
    let after = store.sweep.get().unwrap_or_default();
    let end: Option<(String, i64)> = sqlx::query_as(
        "SELECT user_id, count(*) OVER () FROM \
         (SELECT user_id FROM users WHERE user_id > ?1 ORDER BY user_id LIMIT ?2) \
         ORDER BY user_id DESC LIMIT 1",
    )
    .bind(&after)
    .bind(window)
    .fetch_optional(&store.reader)
    .await?;
    let Some((last, seen)) = end else {
        // Past the last user (or none at all): start over next pass.
        store.sweep.set(None);
        return Ok(0);
    };
    let orphans: Vec<(String,)> = sqlx::query_as(
        "SELECT u.user_id FROM users AS u WHERE u.user_id > ?1 AND u.user_id <= ?2 \
         AND (EXISTS (SELECT 1 FROM session_keys AS k \
                  WHERE k.user_id = u.user_id AND k.retired_at IS NULL) \
              OR EXISTS (SELECT 1 FROM user_phones AS p WHERE p.user_id = u.user_id)) \
         AND NOT EXISTS \
         (SELECT 1 FROM sessions AS s WHERE s.user_id = u.user_id AND s.idle_expires_at > ?3) \
         ORDER BY u.user_id LIMIT ?4",
    )
    .bind(&after)
    .bind(&last)
    .bind(now_ms)
    .bind(room)
    .fetch_all(&store.reader)
    .await?;
    let orphans: Vec<String> = orphans.into_iter().map(|(id,)| id).collect();
    let dropped = retire_rings_of(store, &orphans, now_ms).await?;
    // With the room used up there may be more orphans in this window: resume after the last
    // one taken. Otherwise the window is done; a short one was the end of the table.
    let next = match orphans.last() {
        Some(taken) if orphans.len() as i64 >= room => Some(taken.clone()),
        _ if seen < window => None,
        _ => Some(last),
    };
    store.sweep.set(next);
    Ok(dropped)
}
