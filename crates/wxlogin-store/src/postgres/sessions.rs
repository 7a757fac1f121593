//! Token verification, sliding renewal and ending sessions.

use async_trait::async_trait;
use time::OffsetDateTime;
use uuid::Uuid;

use super::{
    PostgresStore, bump_epoch, drop_ring_unless_live, from_millis, lock_user, millis, retry,
};
use crate::error::StoreError;
use crate::model::{SessionRecord, TokenHash};
use crate::traits::SessionStore;

/// The columns `find_session` reads, in order.
type SessionRow = (
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
        _now: OffsetDateTime,
    ) -> Result<u64, StoreError> {
        retry(|| end_user_sessions_once(self, user_id)).await
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
    let ended = sqlx::query("DELETE FROM sessions WHERE session_id = $1")
        .bind(session_id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    if ended == 0 {
        return Ok(false);
    }
    drop_ring_unless_live(&mut tx, user_id, millis(now)).await?;
    bump_epoch(&mut tx).await?;
    tx.commit().await?;
    Ok(true)
}

async fn end_user_sessions_once(store: &PostgresStore, user_id: Uuid) -> Result<u64, StoreError> {
    let mut tx = store.begin().await?;
    // No user, no sessions (foreign key): the deletes below then match nothing.
    lock_user(&mut tx, user_id).await?;
    let ended = sqlx::query("DELETE FROM sessions WHERE user_id = $1")
        .bind(user_id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    for sql in [
        "DELETE FROM session_keys WHERE user_id = $1",
        "DELETE FROM user_phones WHERE user_id = $1",
    ] {
        sqlx::query(sql).bind(user_id).execute(&mut *tx).await?;
    }
    if ended > 0 {
        bump_epoch(&mut tx).await?;
    }
    tx.commit().await?;
    Ok(ended)
}

fn session_record(row: SessionRow) -> Result<SessionRecord, StoreError> {
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
