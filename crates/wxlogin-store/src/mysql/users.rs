//! Users and their session_key rings.

use async_trait::async_trait;
use time::OffsetDateTime;
use uuid::Uuid;

use super::{
    MySqlStore, bump_epoch, delete_user_sessions, drop_ring, duration_millis, from_millis, id_text,
    lock_user, millis, parse_id, retry, text,
};
use crate::error::StoreError;
use crate::model::{KeyRingPolicy, NewSessionKey, SealedSessionKey, UserRecord};
use crate::traits::UserStore;

type UserRow = (String, Vec<u8>, Vec<u8>, Option<Vec<u8>>, i64, i64);

#[async_trait]
impl UserStore for MySqlStore {
    async fn replace_session_key(
        &self,
        user_id: Uuid,
        key: NewSessionKey,
        now: OffsetDateTime,
        policy: KeyRingPolicy,
    ) -> Result<bool, StoreError> {
        retry(|| super::login::replace_session_key(self, user_id, &key, now, policy)).await
    }

    async fn save_phone(
        &self,
        user_id: Uuid,
        sealed: Vec<u8>,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let user_text = id_text(user_id);
        // INSERT … SELECT so a user deleted concurrently is simply not matched (no foreign-key
        // error): 0 rows then, at least 1 otherwise (inserted, replaced or, with
        // CLIENT_FOUND_ROWS, matched unchanged).
        let stored = retry(|| async {
            Ok(sqlx::query(
                "INSERT INTO user_phones (user_id, sealed, updated_at) \
                 SELECT user_id, ?, ? FROM users WHERE user_id = ? \
                 ON DUPLICATE KEY UPDATE sealed = ?, updated_at = ?",
            )
            .bind(sealed.as_slice())
            .bind(millis(now))
            .bind(&user_text)
            .bind(sealed.as_slice())
            .bind(millis(now))
            .execute(&self.pool)
            .await?
            .rows_affected())
        })
        .await?;
        Ok(stored >= 1)
    }

    async fn phone(&self, user_id: Uuid) -> Result<Option<Vec<u8>>, StoreError> {
        let row: Option<(Vec<u8>,)> =
            sqlx::query_as("SELECT sealed FROM user_phones WHERE user_id = ?")
                .bind(id_text(user_id))
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.map(|(sealed,)| sealed))
    }

    async fn find_user(&self, appid: &str, openid: &str) -> Result<Option<UserRecord>, StoreError> {
        // VARBINARY columns: the comparison is byte for byte.
        let row: Option<UserRow> = sqlx::query_as(concat!(
            "SELECT user_id, appid, openid, unionid, created_at, last_login_at ",
            "FROM users WHERE appid = ? AND openid = ?"
        ))
        .bind(appid)
        .bind(openid)
        .fetch_optional(&self.pool)
        .await?;
        row.map(user_record).transpose()
    }

    async fn find_user_by_id(&self, user_id: Uuid) -> Result<Option<UserRecord>, StoreError> {
        let row: Option<UserRow> = sqlx::query_as(concat!(
            "SELECT user_id, appid, openid, unionid, created_at, last_login_at ",
            "FROM users WHERE user_id = ?"
        ))
        .bind(id_text(user_id))
        .fetch_optional(&self.pool)
        .await?;
        row.map(user_record).transpose()
    }

    async fn delete_user(&self, user_id: Uuid) -> Result<bool, StoreError> {
        retry(|| delete_user_once(self, user_id)).await
    }

    async fn key_ring(
        &self,
        user_id: Uuid,
        now: OffsetDateTime,
        policy: KeyRingPolicy,
    ) -> Result<Vec<SealedSessionKey>, StoreError> {
        let cutoff = millis(now).saturating_sub(duration_millis(policy.window));
        let rows: Vec<(Vec<u8>, i64, Option<i64>)> = sqlx::query_as(
            "SELECT sealed, created_at, retired_at FROM session_keys \
             WHERE user_id = ? AND (retired_at IS NULL OR retired_at > ?) \
             ORDER BY CASE WHEN retired_at IS NULL THEN 0 ELSE 1 END, \
             retired_at DESC, created_at DESC",
        )
        .bind(id_text(user_id))
        .bind(cutoff)
        .fetch_all(&self.pool)
        .await?;

        let keep = usize::try_from(policy.keep_previous).unwrap_or(usize::MAX);
        let mut ring = Vec::with_capacity(rows.len());
        let mut previous = 0usize;
        for (sealed, created_at, retired_at) in rows {
            if retired_at.is_some() {
                if previous == keep {
                    break;
                }
                previous += 1;
            }
            ring.push(SealedSessionKey {
                sealed,
                current: retired_at.is_none(),
                created_at: from_millis(created_at)?,
                retired_at: retired_at.map(from_millis).transpose()?,
            });
        }
        Ok(ring)
    }
}

async fn delete_user_once(store: &MySqlStore, user_id: Uuid) -> Result<bool, StoreError> {
    let user_text = id_text(user_id);
    let mut tx = store.begin().await?;
    // Foreign keys guarantee nothing of a missing user is left to delete.
    if !lock_user(&mut tx, &user_text).await? {
        return Ok(false);
    }
    // Explicit deletes rather than relying on ON DELETE CASCADE alone: the statement order is
    // then the same on every backend.
    delete_user_sessions(&mut tx, &user_text).await?;
    drop_ring(&mut tx, &user_text).await?;
    sqlx::query("DELETE FROM users WHERE user_id = ?")
        .bind(&user_text)
        .execute(&mut *tx)
        .await?;
    bump_epoch(&mut tx).await?;
    tx.commit().await?;
    Ok(true)
}

fn user_record(row: UserRow) -> Result<UserRecord, StoreError> {
    let (user_id, appid, openid, unionid, created_at, last_login_at) = row;
    Ok(UserRecord {
        user_id: parse_id(&user_id)?,
        appid: text(appid)?,
        openid: text(openid)?,
        unionid: unionid.map(text).transpose()?,
        created_at: from_millis(created_at)?,
        last_login_at: from_millis(last_login_at)?,
    })
}
