//! The bounded background purge.
//!
//! Rows that are dead whatever happens next (expired code records, retired keys past the
//! window) go with one autocommit `DELETE … LIMIT n` each: MySQL accepts `LIMIT` on a
//! single-table `DELETE` but not inside `IN (SELECT …)`. Expired sessions are picked with a
//! plain read first, because their owners are needed afterwards and MySQL has no `RETURNING`,
//! then deleted by primary key with the expiry re-checked, so a session renewed in between
//! stays.
//!
//! Rings and inactive users are different: a login may give the user a live session at any
//! moment. Candidates are listed with a plain read, then each is handled in its own short
//! transaction that locks the user's row (the same per-user lock `record_login` takes) and
//! checks again with locking reads before deleting, so a login that commits first is seen and
//! a login that comes later waits and then starts afresh.
//!
//! # Orphaned rings without scanning every user
//! A user who holds no live session keeps no current session_key and no phone number: their
//! current key is retired (it stays usable as a previous key for the key window, then the
//! retired-keys step removes it like any other) and the phone is dropped. Every write that
//! ends a session explicitly (logout, revoke, family revocation; cap eviction never ends the
//! last one; user deletion removes everything) does this with the user's last live session,
//! in the same transaction. So in normal operation a ring is orphaned only by *expiry*, which
//! this purge observes itself: the owners of the expired sessions it deletes are the only
//! users checked, O(`batch_size`) index probes where asking "which users with a ring have no
//! live session" reads every user (and outlived the statement timeout on MariaDB at a million
//! sessions). Keys retired less than `key_window` ago are never touched here, so the window
//! of a key retired by a logout or a rotation is not cut short.
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

use sqlx::{MySql, QueryBuilder};
use time::OffsetDateTime;

use super::{
    MySqlStore, delete_user_sessions, drop_ring, duration_millis, has_live_session, lock_user,
    millis, retire_ring, retry,
};
use crate::error::StoreError;
use crate::model::{PurgeLimits, PurgeReport};

/// Users the leftover sweep examines per pass, as a multiple of `batch_size`: each costs a
/// few index probes, so a window of 4 000 users stays in the milliseconds.
const SWEEP_FACTOR: i64 = 4;

/// Ids per `IN (…)` list, far below the 65 535 placeholders a statement may have.
const IDS_PER_STATEMENT: usize = 1_000;

/// Where the leftover sweep goes on: the last user id it examined, `None` to start from the
/// lowest. Shared by the clones of a store; each instance (and each restart) sweeps on its own,
/// which only repeats work that the locked re-checks make harmless.
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
    store: &MySqlStore,
    now: OffsetDateTime,
    limits: PurgeLimits,
) -> Result<PurgeReport, StoreError> {
    let now_ms = millis(now);
    let batch = i64::from(limits.batch_size.max(1));
    let key_cutoff = now_ms.saturating_sub(duration_millis(limits.key_window));
    let inactive_cutoff = now_ms.saturating_sub(duration_millis(limits.inactive_after));

    let (expired_sessions, owners) = delete_expired_sessions(store, now_ms, batch).await?;
    let expired_login_codes = delete(
        store,
        "DELETE FROM used_login_codes WHERE expires_at <= ? LIMIT ?",
        now_ms,
        batch,
    )
    .await?;
    let orphans = orphans_among(store, &owners, now_ms).await?;
    let mut orphaned_key_rings = retire_rings(store, &orphans, now_ms).await?;
    let room = batch.saturating_sub_unsigned(orphaned_key_rings);
    if room > 0 {
        orphaned_key_rings +=
            sweep(store, now_ms, batch.saturating_mul(SWEEP_FACTOR), room).await?;
    }
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

/// Deletes up to `batch` sessions expired at `now_ms` (no epoch bump: a cache re-checks expiry
/// on every hit anyway). Returns how many, and the owners of those picked, each once, in id
/// order: the users whose ring this may have orphaned.
async fn delete_expired_sessions(
    store: &MySqlStore,
    now_ms: i64,
    batch: i64,
) -> Result<(u64, Vec<String>), StoreError> {
    // A plain read, locking nothing, like the single `DELETE … LIMIT` this replaces took no
    // user lock. (idle_expires_at <= absolute_expires_at always, so this also covers absolute
    // expiry.)
    let picked: Vec<(String, String)> = sqlx::query_as(
        "SELECT session_id, user_id FROM sessions WHERE idle_expires_at <= ? LIMIT ?",
    )
    .bind(now_ms)
    .bind(batch)
    .fetch_all(&store.pool)
    .await?;
    let mut deleted = 0;
    for chunk in picked.chunks(IDS_PER_STATEMENT) {
        // By primary key, so only these rows are locked; the expiry is checked again.
        deleted += retry(|| async {
            let mut sql =
                QueryBuilder::<MySql>::new("DELETE FROM sessions WHERE idle_expires_at <= ");
            sql.push_bind(now_ms).push(" AND session_id IN (");
            let mut ids = sql.separated(", ");
            for (session_id, _) in chunk {
                ids.push_bind(session_id.as_str());
            }
            ids.push_unseparated(")");
            // One statement per list length: not worth a place in the statement cache.
            Ok(sql
                .build()
                .persistent(false)
                .execute(&store.pool)
                .await?
                .rows_affected())
        })
        .await?;
    }
    let mut owners: Vec<String> = picked.into_iter().map(|(_, user_id)| user_id).collect();
    owners.sort_unstable();
    owners.dedup();
    Ok((deleted, owners))
}

/// Those of `users` (ascending) who own a current key or a phone and hold no session live at
/// `now_ms`, by a plain read: the candidates worth a locked transaction each.
async fn orphans_among(
    store: &MySqlStore,
    users: &[String],
    now_ms: i64,
) -> Result<Vec<String>, StoreError> {
    let mut orphans = Vec::new();
    for chunk in users.chunks(IDS_PER_STATEMENT) {
        let mut sql =
            QueryBuilder::<MySql>::new("SELECT u.user_id FROM users AS u WHERE u.user_id IN (");
        let mut ids = sql.separated(", ");
        for user_id in chunk {
            ids.push_bind(user_id.as_str());
        }
        ids.push_unseparated(
            ") AND (EXISTS (SELECT 1 FROM session_keys AS k \
                 WHERE k.user_id = u.user_id AND k.retired_at IS NULL) \
             OR EXISTS (SELECT 1 FROM user_phones AS p WHERE p.user_id = u.user_id)) \
             AND NOT EXISTS (SELECT 1 FROM sessions AS s \
                 WHERE s.user_id = u.user_id AND s.idle_expires_at > ",
        );
        sql.push_bind(now_ms).push(") ORDER BY u.user_id");
        let rows: Vec<(String,)> = sql
            .build_query_as()
            .persistent(false)
            .fetch_all(&store.pool)
            .await?;
        orphans.extend(rows.into_iter().map(|(id,)| id));
    }
    Ok(orphans)
}

/// Retires the current key and drops the phone of each of `users` who, checked again under
/// their row lock, holds no live session; returns how many lost something.
async fn retire_rings(
    store: &MySqlStore,
    users: &[String],
    now_ms: i64,
) -> Result<u64, StoreError> {
    let mut dropped = 0;
    for user_id in users {
        let done = retry(|| async {
            let mut tx = store.begin().await?;
            if !lock_user(&mut tx, user_id).await?
                || has_live_session(&mut tx, user_id, now_ms).await?
            {
                return Ok(false);
            }
            let changed = retire_ring(&mut tx, user_id, now_ms).await?;
            tx.commit().await?;
            Ok(changed)
        })
        .await?;
        dropped += u64::from(done);
    }
    Ok(dropped)
}

/// One sweep step: retires the rings of at most `room` orphans among the next `window` users
/// after the cursor, and moves the cursor on. Returns how many users lost something.
async fn sweep(store: &MySqlStore, now_ms: i64, window: i64, room: i64) -> Result<u64, StoreError> {
    // Every id sorts after the empty string: "after ''" is "from the start".
    let after = store.sweep.get().unwrap_or_default();
    let end: Option<(String, i64)> = sqlx::query_as(
        "SELECT user_id, COUNT(*) OVER () FROM \
         (SELECT user_id FROM users WHERE user_id > ? ORDER BY user_id LIMIT ?) AS w \
         ORDER BY user_id DESC LIMIT 1",
    )
    .bind(&after)
    .bind(window)
    .fetch_optional(&store.pool)
    .await?;
    let Some((last, seen)) = end else {
        // Past the last user (or none at all): start over next pass.
        store.sweep.set(None);
        return Ok(0);
    };
    // The window's range is repeated on every table, so that whatever join the optimizer
    // picks (MySQL 8 may turn NOT EXISTS into a hash anti-join) reads only the window's rows.
    let orphans: Vec<(String,)> = sqlx::query_as(
        "SELECT u.user_id FROM users AS u WHERE u.user_id > ? AND u.user_id <= ? \
         AND (EXISTS (SELECT 1 FROM session_keys AS k \
                  WHERE k.user_id = u.user_id AND k.user_id > ? AND k.user_id <= ? \
                  AND k.retired_at IS NULL) \
              OR EXISTS (SELECT 1 FROM user_phones AS p \
                  WHERE p.user_id = u.user_id AND p.user_id > ? AND p.user_id <= ?)) \
         AND NOT EXISTS (SELECT 1 FROM sessions AS s \
             WHERE s.user_id = u.user_id AND s.user_id > ? AND s.user_id <= ? \
             AND s.idle_expires_at > ?) \
         ORDER BY u.user_id LIMIT ?",
    )
    .bind(&after)
    .bind(&last)
    .bind(&after)
    .bind(&last)
    .bind(&after)
    .bind(&last)
    .bind(&after)
    .bind(&last)
    .bind(now_ms)
    .bind(room)
    .fetch_all(&store.pool)
    .await?;
    let orphans: Vec<String> = orphans.into_iter().map(|(id,)| id).collect();
    let dropped = retire_rings(store, &orphans, now_ms).await?;
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
