//! Token verification, sliding renewal and ending sessions; rotation is in `rotation`.

use std::time::Duration;

use async_trait::async_trait;
use sqlx::{Postgres, Transaction};
use time::OffsetDateTime;
use uuid::Uuid;

use super::{
    PostgresStore, bump_epoch, from_millis, lock_user, millis, retire_rings_unless_live, retry,
};
use crate::error::StoreError;
use crate::model::{Rotation, SessionRecord, TokenHash};
use crate::traits::SessionStore;

/// The columns every session lookup reads, in order.
pub(super) type SessionRow = (
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
);

#[async_trait]
impl SessionStore for PostgresStore {
    async fn find_session(
        &self,
        token_hash: &TokenHash,
        now: OffsetDateTime,
    ) -> Result<Option<SessionRecord>, StoreError> {
        // One probe of the unique token_hash index plus one primary-key probe into users.
        // Autocommit: the snapshot is taken now, so a logout committed earlier is seen.
        let row: Option<SessionRow> = sqlx::query_as(
            "SELECT s.session_id, s.user_id, s.appid, u.openid, u.unionid, s.family_id, \
             s.created_at, s.last_seen_at, s.idle_expires_at, s.absolute_expires_at \
             FROM sessions AS s JOIN users AS u ON u.user_id = s.user_id \
             WHERE s.token_hash = $1 AND s.idle_expires_at > $2 AND s.absolute_expires_at > $2",
        )
        .bind(token_hash.as_bytes().as_slice())
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
        // One statement on one row: no user lock needed, it ends nothing and owns nothing.
        let changed = sqlx::query(
            "UPDATE sessions SET last_seen_at = GREATEST(last_seen_at, $2), \
             idle_expires_at = GREATEST(idle_expires_at, LEAST($3, absolute_expires_at)) \
             WHERE session_id = $1 AND idle_expires_at > $2 AND absolute_expires_at > $2",
        )
        .bind(session_id)
        .bind(millis(now))
        .bind(millis(idle_expires_at))
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(changed == 1)
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
             WHERE s.session_id = $1 AND s.idle_expires_at > $2 AND s.absolute_expires_at > $2",
        )
        .bind(session_id)
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
    store: &PostgresStore,
    session_id: Uuid,
    now: OffsetDateTime,
) -> Result<bool, StoreError> {
    let mut tx = store.begin().await?;
    let owner: Option<(Uuid,)> =
        sqlx::query_as("SELECT user_id FROM sessions WHERE session_id = $1")
            .bind(session_id)
            .fetch_optional(&mut *tx)
            .await?;
    let Some((user_id,)) = owner else {
        return Ok(false);
    };
    lock_user(&mut tx, user_id).await?;
    // Re-checked under the lock: a concurrent logout or eviction may have won meanwhile.
    if !end_locked(&mut tx, session_id, user_id, millis(now)).await? {
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
    tx: &mut Transaction<'static, Postgres>,
    session_id: Uuid,
    user_id: Uuid,
    now_ms: i64,
) -> Result<bool, StoreError> {
    let ended = sqlx::query("DELETE FROM sessions WHERE session_id = $1")
        .bind(session_id)
        .execute(&mut **tx)
        .await?
        .rows_affected();
    if ended == 0 {
        return Ok(false);
    }
    retire_rings_unless_live(tx, &[user_id], now_ms).await?;
    bump_epoch(tx).await?;
    Ok(true)
}

async fn end_user_sessions_once(
    store: &PostgresStore,
    user_id: Uuid,
    now: OffsetDateTime,
) -> Result<u64, StoreError> {
    let mut tx = store.begin().await?;
    // No user, no sessions (foreign key): the statements below then match nothing.
    lock_user(&mut tx, user_id).await?;
    let ended = sqlx::query("DELETE FROM sessions WHERE user_id = $1")
        .bind(user_id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    // No session is left, live or not: the current key is retired, the phone dropped.
    retire_rings_unless_live(&mut tx, &[user_id], millis(now)).await?;
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
        session_id,
        user_id,
        appid,
        openid,
        unionid,
        family_id,
        created_at: from_millis(created)?,
        last_seen_at: from_millis(seen)?,
        idle_expires_at: from_millis(idle)?,
        absolute_expires_at: from_millis(absolute)?,
    })
}
