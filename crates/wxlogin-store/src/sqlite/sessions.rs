//! Token verification, sliding renewal and ending sessions; rotation is in `rotation`.

use std::time::Duration;

use async_trait::async_trait;
use sqlx::{Sqlite, Transaction};
use time::OffsetDateTime;
use uuid::Uuid;

use super::{
    SqliteStore, bump_epoch, from_millis, id_text, millis, parse_id, retire_ring_unless_live,
};
use crate::error::StoreError;
use crate::model::{Rotation, SessionRecord, TokenHash};
use crate::traits::SessionStore;

/// The columns every session lookup reads, in order.
type SessionRow = (
    String,
    String,
    String,
    String,
    Option<String>,
    Option<String>,
    i64,
    i64,
    i64,
    i64,
);

#[async_trait]
impl SessionStore for SqliteStore {
    async fn find_session(
        &self,
        token_hash: &TokenHash,
        now: OffsetDateTime,
    ) -> Result<Option<SessionRecord>, StoreError> {
        // One probe of the unique token_hash index plus one primary-key probe into users.
        let row: Option<SessionRow> = sqlx::query_as(
            "SELECT s.session_id, s.user_id, s.appid, u.openid, u.unionid, s.family_id, \
             s.created_at, s.last_seen_at, s.idle_expires_at, s.absolute_expires_at \
             FROM sessions AS s JOIN users AS u ON u.user_id = s.user_id \
             WHERE s.token_hash = ?1 AND s.idle_expires_at > ?2 AND s.absolute_expires_at > ?2",
        )
        .bind(token_hash.as_bytes().as_slice())
        .bind(millis(now))
        .fetch_optional(&self.reader)
        .await?;
        row.map(session_record).transpose()
    }

    async fn touch_session(
        &self,
        session_id: Uuid,
        now: OffsetDateTime,
        idle_expires_at: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        // PostgreSQL / MySQL: GREATEST and LEAST instead of SQLite's scalar max and min.
        let changed = sqlx::query(
            "UPDATE sessions SET last_seen_at = max(last_seen_at, ?2), \
             idle_expires_at = max(idle_expires_at, min(?3, absolute_expires_at)) \
             WHERE session_id = ?1 AND idle_expires_at > ?2 AND absolute_expires_at > ?2",
        )
        .bind(id_text(session_id))
        .bind(millis(now))
        .bind(millis(idle_expires_at))
        .execute(&self.writer)
        .await?
        .rows_affected();
        Ok(changed == 1)
    }

    async fn end_session(&self, session_id: Uuid, now: OffsetDateTime) -> Result<bool, StoreError> {
        let session_text = id_text(session_id);
        let mut tx = self.begin_write().await?;
        let owner: Option<(String,)> =
            sqlx::query_as("SELECT user_id FROM sessions WHERE session_id = ?1")
                .bind(&session_text)
                .fetch_optional(&mut *tx)
                .await?;
        let Some((user_id,)) = owner else {
            return Ok(false);
        };
        end_one(&mut tx, &session_text, &user_id, millis(now)).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn end_user_sessions(
        &self,
        user_id: Uuid,
        now: OffsetDateTime,
    ) -> Result<u64, StoreError> {
        let user_text = id_text(user_id);
        let mut tx = self.begin_write().await?;
        let ended = sqlx::query("DELETE FROM sessions WHERE user_id = ?1")
            .bind(&user_text)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        // No session is left, live or not: the current key is retired, the phone dropped.
        retire_ring_unless_live(&mut tx, &user_text, millis(now)).await?;
        if ended > 0 {
            bump_epoch(&mut tx).await?;
        }
        tx.commit().await?;
        Ok(ended)
    }

    async fn find_session_by_id(
        &self,
        session_id: Uuid,
        now: OffsetDateTime,
    ) -> Result<Option<SessionRecord>, StoreError> {
        live_session_by_id(&self.reader, session_id, millis(now)).await
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
            .fetch_one(&self.reader)
            .await?;
        u64::try_from(epoch).map_err(|_| StoreError::corrupt("negative revocation epoch"))
    }
}

/// The session with this id, joined with its user, if live at `now_ms`: one primary-key probe
/// into each table. Runs on the read pool, or inside a write transaction.
pub(super) async fn live_session_by_id<'e>(
    executor: impl sqlx::Executor<'e, Database = Sqlite>,
    session_id: Uuid,
    now_ms: i64,
) -> Result<Option<SessionRecord>, StoreError> {
    let row: Option<SessionRow> = sqlx::query_as(
        "SELECT s.session_id, s.user_id, s.appid, u.openid, u.unionid, s.family_id, \
         s.created_at, s.last_seen_at, s.idle_expires_at, s.absolute_expires_at \
         FROM sessions AS s JOIN users AS u ON u.user_id = s.user_id \
         WHERE s.session_id = ?1 AND s.idle_expires_at > ?2 AND s.absolute_expires_at > ?2",
    )
    .bind(id_text(session_id))
    .bind(now_ms)
    .fetch_optional(executor)
    .await?;
    row.map(session_record).transpose()
}

/// Ends one session of `user_id` inside a write transaction: what `end_session` does, and
/// what a family revocation must do alike (delete, bump the epoch, and with the user's last
/// live session retire the current key and drop the phone).
pub(super) async fn end_one(
    tx: &mut Transaction<'static, Sqlite>,
    session_id: &str,
    user_id: &str,
    now_ms: i64,
) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM sessions WHERE session_id = ?1")
        .bind(session_id)
        .execute(&mut **tx)
        .await?;
    bump_epoch(tx).await?;
    retire_ring_unless_live(tx, user_id, now_ms).await?;
    Ok(())
}

fn session_record(row: SessionRow) -> Result<SessionRecord, StoreError> {
    let (session_id, user_id, appid, openid, unionid, family_id, created, seen, idle, absolute) =
        row;
    Ok(SessionRecord {
        session_id: parse_id(&session_id)?,
        user_id: parse_id(&user_id)?,
        appid,
        openid,
        unionid,
        family_id: family_id.as_deref().map(parse_id).transpose()?,
        created_at: from_millis(created)?,
        last_seen_at: from_millis(seen)?,
        idle_expires_at: from_millis(idle)?,
        absolute_expires_at: from_millis(absolute)?,
    })
}
