//! Token verification, sliding renewal and ending sessions; rotation is in `rotation`.

use std::time::Duration;

use async_trait::async_trait;
use sqlx::{MySql, Transaction};
use time::OffsetDateTime;
use uuid::Uuid;

use super::{
    MySqlStore, bump_epoch, delete_session, delete_user_sessions, from_millis, has_live_session,
    id_text, lock_user, millis, parse_id, retire_ring, retry, text,
};
use crate::error::StoreError;
use crate::model::{Rotation, SessionRecord, TokenHash};
use crate::traits::SessionStore;

/// The columns every session lookup reads, in order.
pub(super) type SessionRow = (
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
);

#[async_trait]
impl SessionStore for MySqlStore {
    async fn find_session(
        &self,
        token_hash: &TokenHash,
        now: OffsetDateTime,
    ) -> Result<Option<SessionRecord>, StoreError> {
        // One probe of the unique token_hash index plus one primary-key probe into users. An
        // autocommit SELECT reads a fresh snapshot, so a logout committed before it started is
        // seen.
        let row: Option<SessionRow> = sqlx::query_as(
            "SELECT s.session_id, s.user_id, s.appid, u.openid, u.unionid, s.family_id, \
             s.created_at, s.last_seen_at, s.idle_expires_at, s.absolute_expires_at \
             FROM sessions AS s JOIN users AS u ON u.user_id = s.user_id \
             WHERE s.token_hash = ? AND s.idle_expires_at > ? AND s.absolute_expires_at > ?",
        )
        .bind(token_hash.as_bytes().as_slice())
        .bind(millis(now))
        .bind(millis(now))
        .fetch_optional(&self.pool)
        .await?;
        row.map(session_record).transpose()
    }

    async fn touch_session(
        &self,
        session_id: Uuid,
        now: OffsetDateTime,
        idle_expires_at: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let (session_text, now_ms) = (id_text(session_id), millis(now));
        // With CLIENT_FOUND_ROWS the count is the rows matched: 1 for a live session even if
        // the deadline did not move.
        let touched = retry(|| async {
            Ok(sqlx::query(
                "UPDATE sessions SET last_seen_at = GREATEST(last_seen_at, ?), \
                 idle_expires_at = GREATEST(idle_expires_at, LEAST(?, absolute_expires_at)) \
                 WHERE session_id = ? AND idle_expires_at > ? AND absolute_expires_at > ?",
            )
            .bind(now_ms)
            .bind(millis(idle_expires_at))
            .bind(&session_text)
            .bind(now_ms)
            .bind(now_ms)
            .execute(&self.pool)
            .await?
            .rows_affected())
        })
        .await?;
        Ok(touched == 1)
    }

    async fn end_session(&self, session_id: Uuid, now: OffsetDateTime) -> Result<bool, StoreError> {
        retry(|| end_session_once(self, session_id, now)).await
    }

    async fn end_user_sessions(
        &self,
        user_id: Uuid,
        now: OffsetDateTime,
    ) -> Result<u64, StoreError> {
        retry(|| end_user_sessions_once(self, user_id, now)).await
    }

    async fn find_session_by_id(
        &self,
        session_id: Uuid,
        now: OffsetDateTime,
    ) -> Result<Option<SessionRecord>, StoreError> {
        // Primary-key probes into both tables; autocommit, like `find_session`.
        let row: Option<SessionRow> = sqlx::query_as(
            "SELECT s.session_id, s.user_id, s.appid, u.openid, u.unionid, s.family_id, \
             s.created_at, s.last_seen_at, s.idle_expires_at, s.absolute_expires_at \
             FROM sessions AS s JOIN users AS u ON u.user_id = s.user_id \
             WHERE s.session_id = ? AND s.idle_expires_at > ? AND s.absolute_expires_at > ?",
        )
        .bind(id_text(session_id))
        .bind(millis(now))
        .bind(millis(now))
        .fetch_optional(&self.pool)
        .await?;
        row.map(session_record).transpose()
    }

    async fn rotate_token(
        &self,
        presented: &TokenHash,
        successor: &TokenHash,
        idle_expires_at: OffsetDateTime,
        now: OffsetDateTime,
        grace: Duration,
    ) -> Result<Rotation, StoreError> {
        super::rotation::rotate(self, presented, successor, idle_expires_at, now, grace).await
    }

    async fn revocation_epoch(&self) -> Result<u64, StoreError> {
        let (epoch,): (i64,) = sqlx::query_as("SELECT epoch FROM revocation_epoch WHERE id = 1")
            .fetch_one(&self.pool)
            .await?;
        u64::try_from(epoch).map_err(|_| StoreError::corrupt("negative revocation epoch"))
    }
}

async fn end_session_once(
    store: &MySqlStore,
    session_id: Uuid,
    now: OffsetDateTime,
) -> Result<bool, StoreError> {
    let session_text = id_text(session_id);
    let mut tx = store.begin().await?;
    // A session never changes owner, so a plain read finds whose lock to take. The user's row
    // is locked before the session's, in the same order as `record_login`.
    let owner: Option<(String,)> =
        sqlx::query_as("SELECT user_id FROM sessions WHERE session_id = ?")
            .bind(&session_text)
            .fetch_optional(&mut *tx)
            .await?;
    let Some((user_id,)) = owner else {
        return Ok(false);
    };
    lock_user(&mut tx, &user_id).await?;
    if !end_locked(&mut tx, &session_text, &user_id, millis(now)).await? {
        // Ended by someone else between the read and the lock.
        return Ok(false);
    }
    tx.commit().await?;
    Ok(true)
}

/// Ends one session of `user_id`, whose row the caller has locked: what `end_session` does,
/// and what a family revocation must do alike (delete; with the user's last live session,
/// retire the current key and drop the phone; bump the epoch last). Returns whether the
/// session was there.
pub(super) async fn end_locked(
    tx: &mut Transaction<'static, MySql>,
    session_id: &str,
    user_id: &str,
    now_ms: i64,
) -> Result<bool, StoreError> {
    if !delete_session(tx, session_id).await? {
        return Ok(false);
    }
    if !has_live_session(tx, user_id, now_ms).await? {
        retire_ring(tx, user_id, now_ms).await?;
    }
    bump_epoch(tx).await?;
    Ok(true)
}

async fn end_user_sessions_once(
    store: &MySqlStore,
    user_id: Uuid,
    now: OffsetDateTime,
) -> Result<u64, StoreError> {
    let user_text = id_text(user_id);
    let mut tx = store.begin().await?;
    // No user, no sessions and no ring (foreign keys): nothing below then matches.
    lock_user(&mut tx, &user_text).await?;
    let ended = delete_user_sessions(&mut tx, &user_text).await?;
    // No session is left, live or not: the current key is retired, the phone dropped.
    retire_ring(&mut tx, &user_text, millis(now)).await?;
    if ended > 0 {
        bump_epoch(&mut tx).await?;
    }
    tx.commit().await?;
    Ok(ended)
}

pub(super) fn session_record(row: SessionRow) -> Result<SessionRecord, StoreError> {
    let (session_id, user_id, appid, openid, unionid, family_id, created, seen, idle, absolute) =
        row;
    Ok(SessionRecord {
        session_id: parse_id(&session_id)?,
        user_id: parse_id(&user_id)?,
        appid: text(appid)?,
        openid: text(openid)?,
        unionid: unionid.map(text).transpose()?,
        family_id: family_id.as_deref().map(parse_id).transpose()?,
        created_at: from_millis(created)?,
        last_seen_at: from_millis(seen)?,
        idle_expires_at: from_millis(idle)?,
        absolute_expires_at: from_millis(absolute)?,
    })
}
