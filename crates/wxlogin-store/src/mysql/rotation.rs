//! Refresh-token rotation (JWT mode), see [`SessionStore::rotate_token`].
//!
//! Two transactions, each atomic on its own, so the method as a whole is:
//! 1. **One conditional `UPDATE`** of the session whose current hash is `presented`. Like
//!    `touch_session` it writes one row and ends nothing, so it takes no user lock. Racing
//!    rotations of one token queue on that row's lock; an `UPDATE` reads the latest committed
//!    row, not a snapshot, so each loser finds the winner's new hash there, matches nothing,
//!    and goes on to step 2, where it sees the winner's rotation. The (possibly gap-locked)
//!    miss is rolled back at once rather than held into step 2.
//! 2. Only when nothing matched: a fresh transaction finds the session by its previous hash,
//!    takes the user's lock and then the session's (the order of `end_session`), re-reads it
//!    with a locking read and decides between a retry (no change) and revocation (ended
//!    exactly like `end_session`). Two concurrent replays therefore revoke once; the later one
//!    finds nothing and answers [`Rotation::Unknown`].
//!
//! [`SessionStore::rotate_token`]: crate::SessionStore::rotate_token

use std::time::Duration;

use time::OffsetDateTime;

use super::sessions::{SessionRow, end_locked, session_record};
use super::{MySqlStore, lock_user, millis, parse_id, retry};
use crate::error::{SqlxResultExt as _, StoreError};
use crate::model::{Rotation, TokenHash};

/// A [`SessionRow`] followed by the session's current token hash and its rotation time.
type RotatedRow = (
    String,
    String,
    Vec<u8>,
    Vec<u8>,
    Option<Vec<u8>>,
    Option<String>,
    i64,
    i64,
    i64,
    i64,
    Vec<u8>,
    Option<i64>,
);

pub(super) async fn rotate(
    store: &MySqlStore,
    presented: &TokenHash,
    successor: &TokenHash,
    idle_expires_at: OffsetDateTime,
    now: OffsetDateTime,
    grace: Duration,
) -> Result<Rotation, StoreError> {
    let now_ms = millis(now);
    let rotated =
        retry(|| rotate_current(store, presented, successor, idle_expires_at, now_ms)).await?;
    if let Some(row) = rotated {
        return Ok(Rotation::Rotated(session_record(row)?));
    }
    retry(|| settle_previous(store, presented, successor, now_ms, grace)).await
}

/// Step 1: `presented` is the current token, the successor takes its place; the idle deadline
/// moves as in `touch_session` (capped, never backwards). Returns the updated session, joined
/// with its user. A successor held by another session is a duplicate key: `Conflict`, and the
/// transaction is rolled back.
async fn rotate_current(
    store: &MySqlStore,
    presented: &TokenHash,
    successor: &TokenHash,
    idle_expires_at: OffsetDateTime,
    now_ms: i64,
) -> Result<Option<SessionRow>, StoreError> {
    let mut tx = store.begin().await?;
    // Assignments run left to right, each seeing the ones before: none here reads a column
    // an earlier one wrote. With CLIENT_FOUND_ROWS the count is the rows matched.
    let matched = sqlx::query(
        "UPDATE sessions SET token_hash = ?, previous_token_hash = ?, rotated_at = ?, \
         last_seen_at = GREATEST(last_seen_at, ?), \
         idle_expires_at = GREATEST(idle_expires_at, LEAST(?, absolute_expires_at)) \
         WHERE token_hash = ? AND idle_expires_at > ? AND absolute_expires_at > ?",
    )
    .bind(successor.as_bytes().as_slice())
    .bind(presented.as_bytes().as_slice())
    .bind(now_ms)
    .bind(now_ms)
    .bind(millis(idle_expires_at))
    .bind(presented.as_bytes().as_slice())
    .bind(now_ms)
    .bind(now_ms)
    .execute(&mut *tx)
    .await
    .on_unique_violation("session")?
    .rows_affected();
    if matched == 0 {
        tx.rollback().await?;
        return Ok(None);
    }
    // The transaction's first consistent read: it includes our own update.
    let row: Option<SessionRow> = sqlx::query_as(
        "SELECT s.session_id, s.user_id, s.appid, u.openid, u.unionid, s.family_id, \
         s.created_at, s.last_seen_at, s.idle_expires_at, s.absolute_expires_at \
         FROM sessions AS s JOIN users AS u ON u.user_id = s.user_id WHERE s.token_hash = ?",
    )
    .bind(successor.as_bytes().as_slice())
    .fetch_optional(&mut *tx)
    .await?;
    let row = row.ok_or_else(|| StoreError::corrupt("rotated session has no user"))?;
    tx.commit().await?;
    Ok(Some(row))
}

/// Steps 2 and 3: `presented` is no session's current token. A live session that rotated it
/// out last either sees a retry of that rotation or is revoked.
async fn settle_previous(
    store: &MySqlStore,
    presented: &TokenHash,
    successor: &TokenHash,
    now_ms: i64,
    grace: Duration,
) -> Result<Rotation, StoreError> {
    let mut tx = store.begin().await?;
    // A session never changes owner: a plain (snapshot) read finds whose lock to take.
    let owner: Option<(String, String)> = sqlx::query_as(
        "SELECT session_id, user_id FROM sessions \
         WHERE previous_token_hash = ? AND idle_expires_at > ? AND absolute_expires_at > ?",
    )
    .bind(presented.as_bytes().as_slice())
    .bind(now_ms)
    .bind(now_ms)
    .fetch_optional(&mut *tx)
    .await?;
    let Some((session_text, user_text)) = owner else {
        return Ok(Rotation::Unknown);
    };
    lock_user(&mut tx, &user_text).await?;
    // A locking read by primary key: the latest committed row, not the snapshot, and nobody
    // can change it until we finish. Gone, or rotated once more, means `presented` is no
    // longer known.
    let row: Option<RotatedRow> = sqlx::query_as(
        "SELECT s.session_id, s.user_id, s.appid, u.openid, u.unionid, s.family_id, \
         s.created_at, s.last_seen_at, s.idle_expires_at, s.absolute_expires_at, \
         s.token_hash, s.rotated_at \
         FROM sessions AS s JOIN users AS u ON u.user_id = s.user_id \
         WHERE s.session_id = ? AND s.previous_token_hash = ? \
         AND s.idle_expires_at > ? AND s.absolute_expires_at > ? \
         FOR UPDATE",
    )
    .bind(&session_text)
    .bind(presented.as_bytes().as_slice())
    .bind(now_ms)
    .bind(now_ms)
    .fetch_optional(&mut *tx)
    .await?;
    let Some((sid, uid, appid, openid, unionid, family, created, seen, idle, abs, current, at)) =
        row
    else {
        tx.rollback().await?;
        return Ok(Rotation::Unknown);
    };
    if crate::is_rotation_retry(&current, at, successor, now_ms, grace) {
        tx.rollback().await?;
        let record = session_record((
            sid, uid, appid, openid, unionid, family, created, seen, idle, abs,
        ))?;
        return Ok(Rotation::Replayed(record));
    }
    end_locked(&mut tx, &session_text, &user_text, now_ms).await?;
    tx.commit().await?;
    Ok(Rotation::FamilyRevoked {
        session_id: parse_id(&session_text)?,
        user_id: parse_id(&user_text)?,
    })
}
