//! Users and their session_key rings.

use async_trait::async_trait;
use time::OffsetDateTime;
use uuid::Uuid;

use super::{SqliteStore, bump_epoch, duration_millis, from_millis, id_text, millis, parse_id};
use crate::error::StoreError;
use crate::model::{KeyRingPolicy, NewSessionKey, SealedSessionKey, UserRecord};
use crate::traits::UserStore;

type UserRow = (String, String, String, Option<String>, i64, i64);

#[async_trait]
impl UserStore for SqliteStore {
    async fn replace_session_key(
        &self,
        user_id: Uuid,
        key: NewSessionKey,
        now: OffsetDateTime,
        policy: KeyRingPolicy,
    ) -> Result<bool, StoreError> {
        super::login::replace_session_key(self, user_id, &key, now, policy).await
    }

    async fn save_phone(
        &self,
        user_id: Uuid,
        sealed: Vec<u8>,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        // INSERT … SELECT so a user deleted concurrently is simply not matched (no FK error).
        let stored = sqlx::query(
            "INSERT INTO user_phones (user_id, sealed, updated_at) \
             SELECT user_id, ?2, ?3 FROM users WHERE user_id = ?1 \
             ON CONFLICT (user_id) DO UPDATE SET sealed = excluded.sealed, \
                 updated_at = excluded.updated_at",
        )
        .bind(id_text(user_id))
        .bind(sealed)
        .bind(millis(now))
        .execute(&self.writer)
        .await?
        .rows_affected();
        Ok(stored == 1)
    }

    async fn phone(&self, user_id: Uuid) -> Result<Option<Vec<u8>>, StoreError> {
        let row: Option<(Vec<u8>,)> =
            sqlx::query_as("SELECT sealed FROM user_phones WHERE user_id = ?1")
                .bind(id_text(user_id))
                .fetch_optional(&self.reader)
                .await?;
        Ok(row.map(|(sealed,)| sealed))
    }

    async fn find_user(&self, appid: &str, openid: &str) -> Result<Option<UserRecord>, StoreError> {
        let row: Option<UserRow> = sqlx::query_as(concat!(
            "SELECT user_id, appid, openid, unionid, created_at, last_login_at ",
            "FROM users WHERE appid = ?1 AND openid = ?2"
        ))
        .bind(appid)
        .bind(openid)
        .fetch_optional(&self.reader)
        .await?;
        row.map(user_record).transpose()
    }

    async fn find_user_by_id(&self, user_id: Uuid) -> Result<Option<UserRecord>, StoreError> {
        let row: Option<UserRow> = sqlx::query_as(concat!(
            "SELECT user_id, appid, openid, unionid, created_at, last_login_at ",
            "FROM users WHERE user_id = ?1"
        ))
        .bind(id_text(user_id))
        .fetch_optional(&self.reader)
        .await?;
        row.map(user_record).transpose()
    }

    async fn delete_user(&self, user_id: Uuid) -> Result<bool, StoreError> {
        let user_text = id_text(user_id);
        let mut tx = self.begin_write().await?;
        // Explicit deletes rather than relying on ON DELETE CASCADE alone: the statement
        // order is then the same on every backend, whatever its foreign-key settings.
        for sql in [
            "DELETE FROM sessions WHERE user_id = ?1",
            "DELETE FROM session_keys WHERE user_id = ?1",
            "DELETE FROM user_phones WHERE user_id = ?1",
        ] {
            sqlx::query(sql).bind(&user_text).execute(&mut *tx).await?;
        }
        let existed = sqlx::query("DELETE FROM users WHERE user_id = ?1")
            .bind(&user_text)
            .execute(&mut *tx)
            .await?
            .rows_affected()
            == 1;
        if existed {
            bump_epoch(&mut tx).await?;
        }
        tx.commit().await?;
        Ok(existed)
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
             WHERE user_id = ?1 AND (retired_at IS NULL OR retired_at > ?2) \
             ORDER BY CASE WHEN retired_at IS NULL THEN 0 ELSE 1 END, \
             retired_at DESC, created_at DESC",
        )
        .bind(id_text(user_id))
        .bind(cutoff)
        .fetch_all(&self.reader)
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

fn user_record(row: UserRow) -> Result<UserRecord, StoreError> {
    let (user_id, appid, openid, unionid, created_at, last_login_at) = row;
    Ok(UserRecord {
        user_id: parse_id(&user_id)?,
        appid,
        openid,
        unionid,
        created_at: from_millis(created_at)?,
        last_login_at: from_millis(last_login_at)?,
    })
}
