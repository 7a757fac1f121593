//! Refresh-token rotation (JWT mode), see [`SessionStore::rotate_token`].
//!
//! Two steps, each atomic on its own, so the method as a whole is:
//! 1. **One conditional `UPDATE`** of the session whose current hash is `presented`. Like
//!    `touch_session` it writes one row and ends nothing, so it takes no user lock. Racing
//!    rotations of one token queue on that row's lock; under READ COMMITTED each loser then
//!    re-evaluates its `WHERE` against the winner's committed row, no longer matches, and goes
//!    on to step 2, where it sees the winner's rotation.
//! 2. Only when nothing matched: a transaction that finds the session by its previous hash,
//!    takes the user's lock and then the session's (the order of `end_session`), re-reads it
//!    under them and decides between a retry (no change) and revocation (ended exactly like
//!    `end_session`). Two concurrent replays therefore revoke once; the later one finds
//!    nothing and answers [`Rotation::Unknown`].
//!
//! [`SessionStore::rotate_token`]: crate::SessionStore::rotate_token

use std::time::Duration;

use time::OffsetDateTime;
use uuid::Uuid;

use super::sessions::{SessionRow, end_locked, session_record};
use super::{PostgresStore, lock_user, millis, retry};
use crate::error::{SqlxResultExt as _, StoreError};
use crate::model::{Rotation, TokenHash};

/// A [`SessionRow`] followed by the session's current token hash and its rotation time.
type RotatedRow = (
    Uuid,
    Uuid,
    String,
    String,
    Option<String>,
    Option<Uuid>,
    i64,
    i64,
    i64,
    i64,
    Vec<u8>,
    Option<i64>,
);

pub(super) async fn rotate(
    store: &PostgresStore,
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
/// with its user. A successor held by another session trips the unique index: `Conflict`,
/// and the statement changed nothing.
async fn rotate_current(
    store: &PostgresStore,
    presented: &TokenHash,
    successor: &TokenHash,
    idle_expires_at: OffsetDateTime,
    now_ms: i64,
) -> Result<Option<SessionRow>, StoreError> {
    sqlx::query_as(
        "WITH s AS ( \
           UPDATE sessions SET token_hash = $2, previous_token_hash = $1, rotated_at = $3, \
             last_seen_at = GREATEST(last_seen_at, $3), \
             idle_expires_at = GREATEST(idle_expires_at, LEAST($4, absolute_expires_at)) \
           WHERE token_hash = $1 AND idle_expires_at > $3 AND absolute_expires_at > $3 \
           RETURNING session_id, user_id, appid, family_id, created_at, last_seen_at, \
             idle_expires_at, absolute_expires_at) \
         SELECT s.session_id, s.user_id, s.appid, u.openid, u.unionid, s.family_id, \
           s.created_at, s.last_seen_at, s.idle_expires_at, s.absolute_expires_at \
         FROM s JOIN users AS u ON u.user_id = s.user_id",
    )
    .bind(presented.as_bytes().as_slice())
    .bind(successor.as_bytes().as_slice())
    .bind(now_ms)
    .bind(millis(idle_expires_at))
    .fetch_optional(&store.pool)
    .await
    .on_unique_violation("session")
}

/// Steps 2 and 3: `presented` is no session's current token. A live session that rotated it
/// out last either sees a retry of that rotation or is revoked.
async fn settle_previous(
    store: &PostgresStore,
    presented: &TokenHash,
    successor: &TokenHash,
    now_ms: i64,
    grace: Duration,
) -> Result<Rotation, StoreError> {
    let mut tx = store.begin().await?;
    // A session never changes owner: a plain read finds whose lock to take.
    let owner: Option<(Uuid, Uuid)> = sqlx::query_as(
        "SELECT session_id, user_id FROM sessions \
         WHERE previous_token_hash = $1 AND idle_expires_at > $2 AND absolute_expires_at > $2",
    )
    .bind(presented.as_bytes().as_slice())
    .bind(now_ms)
    .fetch_optional(&mut *tx)
    .await?;
    let Some((session_id, user_id)) = owner else {
        return Ok(Rotation::Unknown);
    };
    lock_user(&mut tx, user_id).await?;
    // Under both locks: the latest committed state, which nobody can change until we commit.
    // Gone (revoked, rotated once more) means `presented` is no longer known.
    let row: Option<RotatedRow> = sqlx::query_as(
        "SELECT s.session_id, s.user_id, s.appid, u.openid, u.unionid, s.family_id, \
         s.created_at, s.last_seen_at, s.idle_expires_at, s.absolute_expires_at, \
         s.token_hash, s.rotated_at \
         FROM sessions AS s JOIN users AS u ON u.user_id = s.user_id \
         WHERE s.session_id = $1 AND s.previous_token_hash = $2 \
         AND s.idle_expires_at > $3 AND s.absolute_expires_at > $3 \
         FOR UPDATE OF s",
    )
    .bind(session_id)
    .bind(presented.as_bytes().as_slice())
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
    end_locked(&mut tx, session_id, user_id, now_ms).await?;
    tx.commit().await?;
    Ok(Rotation::FamilyRevoked {
        session_id,
        user_id,
    })
}
