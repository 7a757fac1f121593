//! Refresh-token rotation (JWT mode), see [`SessionStore::rotate_token`].
//!
//! The whole decision runs in one `BEGIN IMMEDIATE` transaction on the single writer, so no
//! other write (a concurrent rotation of the same token included) can come between reading
//! the session and changing it: the second of two racing refreshes finds the first one's
//! result already committed.
//!
//! [`SessionStore::rotate_token`]: crate::SessionStore::rotate_token

use std::time::Duration;

use time::OffsetDateTime;

use super::sessions::{end_one, live_session_by_id};
use super::{SqliteStore, millis, parse_id};
use crate::error::{SqlxResultExt as _, StoreError};
use crate::model::{Rotation, TokenHash};

pub(super) async fn rotate(
    store: &SqliteStore,
    presented: &TokenHash,
    successor: &TokenHash,
    idle_expires_at: OffsetDateTime,
    now: OffsetDateTime,
    grace: Duration,
) -> Result<Rotation, StoreError> {
    let now_ms = millis(now);
    let mut tx = store.begin_write().await?;

    // 1. `presented` is the current token: the successor takes its place. The idle deadline
    // moves as in `touch_session` (capped, never backwards); a successor already held by
    // another session trips the unique index, and the transaction is rolled back on drop.
    let rotated: Option<(String,)> = sqlx::query_as(
        "UPDATE sessions SET token_hash = ?2, previous_token_hash = ?1, rotated_at = ?3, \
         last_seen_at = max(last_seen_at, ?3), \
         idle_expires_at = max(idle_expires_at, min(?4, absolute_expires_at)) \
         WHERE token_hash = ?1 AND idle_expires_at > ?3 AND absolute_expires_at > ?3 \
         RETURNING session_id",
    )
    .bind(presented.as_bytes().as_slice())
    .bind(successor.as_bytes().as_slice())
    .bind(now_ms)
    .bind(millis(idle_expires_at))
    .fetch_optional(&mut *tx)
    .await
    .on_unique_violation("session")?;
    if let Some((session_id,)) = rotated {
        let record = live_session_by_id(&mut *tx, parse_id(&session_id)?, now_ms)
            .await?
            .ok_or_else(|| StoreError::corrupt("rotated session has no user"))?;
        tx.commit().await?;
        return Ok(Rotation::Rotated(record));
    }

    // 2. `presented` was rotated out: a retry of that rotation, or a replay.
    let previous: Option<(String, String, Vec<u8>, Option<i64>)> = sqlx::query_as(
        "SELECT session_id, user_id, token_hash, rotated_at FROM sessions \
         WHERE previous_token_hash = ?1 AND idle_expires_at > ?2 AND absolute_expires_at > ?2",
    )
    .bind(presented.as_bytes().as_slice())
    .bind(now_ms)
    .fetch_optional(&mut *tx)
    .await?;
    // 3. Unknown, expired, or already revoked.
    let Some((session_text, user_text, current, rotated_at)) = previous else {
        return Ok(Rotation::Unknown);
    };
    let session_id = parse_id(&session_text)?;
    if crate::is_rotation_retry(&current, rotated_at, successor, now_ms, grace) {
        let record = live_session_by_id(&mut *tx, session_id, now_ms)
            .await?
            .ok_or_else(|| StoreError::corrupt("rotated session has no user"))?;
        return Ok(Rotation::Replayed(record));
    }
    end_one(&mut tx, &session_text, &user_text, now_ms).await?;
    tx.commit().await?;
    Ok(Rotation::FamilyRevoked {
        session_id,
        user_id: parse_id(&user_text)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The lookup by previous hash is one probe of its (partial) index, not a scan.
    #[tokio::test]
    async fn previous_hash_lookup_uses_its_index() {
        let store = SqliteStore::open("sqlite::memory:").await.unwrap();
        let plan: Vec<(i64, i64, i64, String)> = sqlx::query_as(
            "EXPLAIN QUERY PLAN SELECT session_id, user_id, token_hash, rotated_at FROM sessions \
             WHERE previous_token_hash = ?1 AND idle_expires_at > ?2 AND absolute_expires_at > ?2",
        )
        .bind([0u8; 32].as_slice())
        .bind(0i64)
        .fetch_all(&store.writer)
        .await
        .unwrap();
        let detail: Vec<&str> = plan.iter().map(|row| row.3.as_str()).collect();
        assert_eq!(
            detail,
            ["SEARCH sessions USING INDEX sessions_by_previous_token (previous_token_hash=?)"]
        );
    }
}
